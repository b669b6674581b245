/**
 * The status page in a real browser against a live three-node cluster:
 * headless Debian Chromium driven by playwright-core. The page must show
 * three members and exactly one leader, a write live, a lease and a lock
 * held by it (with its fence), then a killed member as down.
 * Screenshots go to `test-artifacts/` (gitignored).
 *
 * Skipped, saying why, where /usr/bin/chromium is missing (CI installs it
 * with `apt-get install -y chromium` where it can). `RAFTKV_CHROMIUM` names
 * another Chromium binary.
 */

import assert from "node:assert/strict";
import { E2eCluster } from "./cluster.ts";

const CHROMIUM = Deno.env.get("RAFTKV_CHROMIUM") || "/usr/bin/chromium";
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url).pathname;
/** Bound on each browser wait; the page refreshes every second. */
const WAIT_MS = 30_000;

function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

const skip = !hasChromium();
if (skip) {
  // deno-lint-ignore no-console -- says why the test is skipped.
  console.log(
    `ui_browser_test: skipped: ${CHROMIUM} not found ` +
      "(install Debian's chromium: apt-get install -y chromium)",
  );
}

/** A browser-side check: the member rows, the leaders among them, the cards. */
const PAGE_STATE = `(() => {
  const rows = [...document.querySelectorAll("#members-body tr[data-member-id]")];
  return {
    members: rows.map((r) => Number(r.dataset.memberId)),
    states: rows.map((r) => r.dataset.state),
    leaderCard: document.getElementById("sum-leader").textContent,
    lagItems: [...document.querySelectorAll("#lag li")].map((li) => li.textContent),
    changes: [...document.querySelectorAll("#changes-body tr")].map((tr) => tr.textContent),
  };
})()`;

interface PageState {
  members: number[];
  states: string[];
  leaderCard: string;
  lagItems: string[];
  changes: string[];
}

Deno.test({
  name:
    "the status page shows three members and one leader, a write live, a lease and a lock, then a killed member as down",
  ignore: skip,
  async fn() {
    const { chromium } = await import("playwright-core");
    const c = await E2eCluster.start();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless=new", "--no-sandbox"],
      timeout: WAIT_MS,
    });
    try {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      for (let i = 0; i < 5; i++) await c.mustWrite(1, `ui-${i}`, `v${i}`);
      const page = await browser.newPage({
        viewport: { width: 1280, height: 900 },
      });
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      await page.goto(`${c.node(1).url}/ui`, { timeout: WAIT_MS });

      // Wait for the page (not a sleep): three members up, one leader.
      // A selector, since the page's CSP forbids the string predicates of
      // waitForFunction.
      await page.waitForSelector(
        'html[data-members="3"][data-up="3"][data-leaders="1"]',
        { state: "attached", timeout: WAIT_MS },
      );
      const state = await page.evaluate(PAGE_STATE) as PageState;
      assert.deepEqual(state.members, [1, 2, 3]);
      const leaders = state.members.filter((_, i) =>
        state.states[i] === "leader"
      );
      assert.equal(leaders.length, 1, JSON.stringify(state));
      const leader = leaders[0]!;
      assert.equal(state.leaderCard, `node ${leader}`);
      assert.equal(state.lagItems.length, 3);
      for (const text of state.lagItems) assert.match(text, /^node \d/);
      assert.ok(
        state.changes.some((t) => /node \d$/.test(t)),
        `a leader change is listed: ${JSON.stringify(state.changes)}`,
      );
      // Live changes: the page's EventSource shows a write as it applies.
      await page.waitForSelector('html[data-watch="open"]', {
        state: "attached",
        timeout: WAIT_MS,
      });
      const liveIndex = await c.mustWrite(2, "ui-live", "seen");
      await page.waitForSelector(
        `#watch-body tr[data-key="ui-live"][data-change-index="${liveIndex}"]`,
        { timeout: WAIT_MS },
      );
      assert.match(
        await page.textContent(`#watch-body tr[data-key="ui-live"]`) ?? "",
        /put.*ui-live/,
      );
      // A lease, and a lock held by it: both listed, the lock with its fence.
      const granted = await fetch(`${c.node(1).url}/v1/leases`, {
        method: "POST",
        body: JSON.stringify({ ttl: 60 }),
      });
      assert.equal(granted.status, 201);
      const lease = (await granted.json()).id as number;
      const locked = await fetch(`${c.node(2).url}/v1/locks/ui-lock`, {
        method: "POST",
        body: JSON.stringify({ lease }),
      });
      assert.equal(locked.status, 200);
      const fence = (await locked.json()).fence as number;
      await page.waitForSelector(`#leases-body tr[data-lease-id="${lease}"]`, {
        timeout: WAIT_MS,
      });
      await page.waitForSelector(
        `#locks-body tr[data-lock="ui-lock"][data-fence="${fence}"]`,
        { timeout: WAIT_MS },
      );
      assert.match(
        await page.textContent(`#locks-body tr[data-lock="ui-lock"]`) ?? "",
        new RegExp(`^ui-lock${lease}${fence}0$`),
      );
      await page.screenshot({
        path: `${ARTIFACTS}ui_status.png`,
        fullPage: true,
      });

      // A member that stops answering is shown as down, and as lagging
      // once the others commit entries without it.
      const victim = [2, 3].find((id) => id !== leader)!;
      await c.kill(victim);
      for (let i = 0; i < 20; i++) await c.mustWrite(1, `ui-more-${i}`, "v");
      await page.waitForSelector(
        `#members-body tr[data-member-id="${victim}"][data-state="down"]`,
        { timeout: WAIT_MS },
      );
      await page.waitForSelector(
        `#lag li[data-member-id="${victim}"]:not([data-lag="0"]):not([data-lag=""])`,
        { timeout: WAIT_MS },
      );
      const lagText = await page.textContent(
        `#lag li[data-member-id="${victim}"] .lag-text`,
      );
      assert.match(lagText ?? "", /^down; [\d,]+ entr(y|ies) behind/);
      await page.screenshot({
        path: `${ARTIFACTS}ui_status_member_down.png`,
        fullPage: true,
      });
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      await c.close();
    }
  },
});
