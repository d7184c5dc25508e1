// Drives the operator console in headless Chromium (Debian's /usr/bin/chromium) with
// playwright-core, as a user would: sign in, call a tool through its form, see the session and
// the call, close the session. Prints one JSON line of what it saw; screenshots go to SHOTS.
//
//   node drive.mjs BASE_URL USER PASSWORD SHOTS PLAYWRIGHT_DIR
import { createRequire } from "node:module";

const [base, user, password, shots, playwrightDir] = process.argv.slice(2);
const require = createRequire(playwrightDir + "/");
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const seen = { errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") seen.errors.push(m.text()); });
  await page.goto(base + "/console");
  await page.fill("#user", user);
  await page.fill("#secret", password);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
  await page.screenshot({ path: shots + "/1-signed-in.png", fullPage: true });

  const tool = page.locator("#tool-fx-echo");
  await tool.locator("summary").click();
  await tool.locator("textarea").fill('{"text": "from the console"}');
  await tool.locator("input[name=session]").fill("console-test");
  await tool.locator("button[type=submit]").click();
  await tool.locator(".result:not([hidden])").waitFor({ timeout: 30000 });
  seen.result = await tool.locator(".result").textContent();

  const row = page.locator('#sessions tr[data-session="console-test"]');
  await row.waitFor({ timeout: 30000 });
  seen.children = await row.locator("td").nth(3).textContent();
  const call = page.locator("#calls tbody tr", { hasText: "console-test" }).first();
  await call.waitFor({ timeout: 30000 });
  seen.call = await call.textContent();
  seen.charts = await page.locator("#charts canvas").count();
  await page.screenshot({ path: shots + "/2-called.png", fullPage: true });

  await row.locator("button").click();
  await row.waitFor({ state: "detached", timeout: 30000 });
  seen.status = await page.locator("#status").textContent();
  await page.screenshot({ path: shots + "/3-closed.png", fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
