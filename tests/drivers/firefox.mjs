// Firefox ESR through puppeteer-core over WebDriver BiDi (Debian's /usr/bin/firefox-esr; puppeteer
// never downloads a browser here: PUPPETEER_SKIP_DOWNLOAD=1), as the driver interface of
// tests/drivers/README.md. `native` is puppeteer's own Page.
import puppeteer from 'puppeteer-core';

/**
 * Pages open as windows of their own (visible, like the tab in front), and the background-timer
 * clamps are lowered as Playwright's Chromium flags do, so a test's polling is never throttled.
 */
const PREFS = {
  'dom.min_background_timeout_value': 4,
  'dom.min_background_timeout_value_without_budget_throttling': 4,
  'dom.timeout.enable_budget_throttling': false,
  'browser.tabs.remote.warmup.enabled': false,
};

const frameOf = (target) => ({
  evaluate: (fn, arg) => target.evaluate(fn, arg),
  // puppeteer's default polling waits for animation frames, which stall in pages not on screen.
  waitForFunction: (fn, arg, timeoutMs) =>
    target.waitForFunction(fn, { timeout: timeoutMs, polling: 50 }, arg).then((h) => h.jsonValue()),
});

const CONSOLE_TYPES = { warn: 'warning' }; // Playwright's names, which the tests use

function wrapPage(page) {
  const frames = new Map(); // name -> puppeteer Frame, once found
  return {
    ...frameOf(page),
    native: page,
    goto: (url) => page.goto(url).then(() => {}),
    // Asked of the page (history.back()), which works here whether or not the previous document
    // comes back from the back/forward cache.
    back: () => page.evaluate(() => setTimeout(() => history.back())).then(() => {}),
    async frame(name) {
      if (!frames.has(name)) {
        for (const frame of page.frames()) {
          if (frame === page.mainFrame() || frame.detached) continue;
          const element = await frame.frameElement().catch(() => null);
          if (element && (await element.evaluate((e) => e.name)) === name) frames.set(name, frame);
        }
      }
      const frame = frames.get(name);
      return frame ? frameOf(frame) : null;
    },
    onConsole: (cb) => page.on('console', (msg) => cb(CONSOLE_TYPES[msg.type()] ?? msg.type(), msg.text())),
    onPageError: (cb) => page.on('pageerror', (err) => cb(err.message)),
    onCrash: () => {},
    close: () => page.close(),
  };
}

export async function launch() {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.BWS_FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: PREFS,
  });
  const version = await browser.version();
  return {
    engine: 'firefox',
    native: browser,
    version: () => version,
    async newContext() {
      const context = await browser.createBrowserContext();
      return {
        native: context,
        newPage: async () => wrapPage(await context.newPage({ type: 'window' })),
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}
