// Firefox ESR through puppeteer-core over WebDriver BiDi (Debian's /usr/bin/firefox-esr; puppeteer
// never downloads a browser here: PUPPETEER_SKIP_DOWNLOAD=1), as the driver interface of
// tests/drivers/README.md. `native` is puppeteer's own Page.
import puppeteer from 'puppeteer-core';
import { wrapBrowser } from './puppeteer.mjs';

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

export async function launch() {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.BWS_FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: PREFS,
  });
  return wrapBrowser(browser, 'firefox');
}
