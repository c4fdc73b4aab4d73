// The driver browser and page of tests/drivers/README.md over puppeteer's, for the drivers that use
// puppeteer-core: Firefox (firefox.mjs) and the bench's quiet Chromium (chromium.mjs).
const frameOf = (target) => ({
  evaluate: (fn, arg) => target.evaluate(fn, arg),
  // puppeteer's default polling waits for animation frames, which stall in pages not on screen.
  waitForFunction: (fn, arg, timeoutMs) =>
    target.waitForFunction(fn, { timeout: timeoutMs, polling: 50 }, arg).then((h) => h.jsonValue()),
});

const CONSOLE_TYPES = { warn: 'warning' }; // Playwright's names, which the tests use

/** A puppeteer Page as a driver page. */
export function wrapPage(page) {
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

/** A launched puppeteer Browser of `engine` as a driver browser; its pages open as windows of their own. */
export async function wrapBrowser(browser, engine) {
  const version = await browser.version();
  return {
    engine,
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
