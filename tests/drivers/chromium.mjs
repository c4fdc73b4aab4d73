// Chromium through Playwright (playwright-core driving Debian's /usr/bin/chromium), as the driver
// interface of tests/drivers/README.md: a thin wrapper, `native` is Playwright's own Page. And
// launchQuiet, the bench's Chromium without network monitoring, through puppeteer-core.
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { wrapBrowser } from './puppeteer.mjs';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** A Playwright Page as a driver page. */
export function wrapPage(page) {
  const frameOf = (target) => ({
    evaluate: (fn, arg) => target.evaluate(fn, arg),
    waitForFunction: (fn, arg, timeoutMs) =>
      target.waitForFunction(fn, arg, { timeout: timeoutMs }).then((h) => h.jsonValue()),
  });
  return {
    ...frameOf(page),
    native: page,
    goto: (url) => page.goto(url).then(() => {}),
    // Asked of the page (history.back()), which works here whether or not the previous document
    // comes back from the back/forward cache.
    back: () => page.evaluate(() => setTimeout(() => history.back())).then(() => {}),
    frame(name) {
      const frame = page.frame({ name });
      return frame ? frameOf(frame) : null;
    },
    onConsole: (cb) => page.on('console', (msg) => cb(msg.type(), msg.text())),
    onPageError: (cb) => page.on('pageerror', (err) => cb(err.message)),
    onCrash: (cb) => page.on('crash', cb),
    close: () => page.close(),
  };
}

/** A Playwright BrowserContext as a driver context. */
export function wrapContext(context) {
  return {
    native: context,
    newPage: async () => wrapPage(await context.newPage()),
    close: () => context.close(),
  };
}

/** Headless Chromium from the system; never downloads a browser. */
export async function launch({ extraArgs = [] } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.BWS_CHROMIUM || '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
  return {
    engine: 'chromium',
    native: browser,
    version: () => browser.version(),
    newContext: async () => wrapContext(await browser.newContext()),
    close: () => browser.close(),
  };
}

/**
 * Headless Chromium through puppeteer-core with its network monitoring off (`native` is puppeteer's
 * Page), for the bench's socket throughput. Playwright enables CDP's Network domain in every page
 * and worker, so Chromium copies every WebSocket frame into a DevTools event for the harness (on the
 * socket's own thread, then through the browser's process to node), which no user's browser does:
 * eight native sockets fanned out 2,534 frames of 64 B a second with it, 4,470 without. Pages open
 * as windows of their own (visible, like the tab in front).
 */
export async function launchQuiet({ extraArgs = [] } = {}) {
  const browser = await puppeteer.launch({
    executablePath: process.env.BWS_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    networkEnabled: false,
  });
  return wrapBrowser(browser, 'chromium');
}
