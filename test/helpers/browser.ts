// The web console in Debian's chromium, driven by playwright-core with the installed executable
// (nothing downloads a browser): one page that collects console errors, opens a console view by its
// fragment, and writes screenshots to test-output/ui/ (git ignores it) for a person to look at.
import type { ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = fileURLToPath(new URL('../../test-output/ui/', import.meta.url));

export interface ConsoleBrowser {
  readonly browser: Browser;
  readonly page: Page;
  /** Console errors and uncaught exceptions on the page, in order. */
  readonly consoleErrors: string[];
  close(): Promise<void>;
}

export async function launchConsoleBrowser(): Promise<ConsoleBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run 'npm run setup:test'`);
  await mkdir(SCREENSHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  return { browser, page, consoleErrors, close: () => browser.close() };
}

/** Loads `#/view` of the console at `base` afresh and waits until the view has drawn. */
export async function openView(page: Page, base: string, view: string): Promise<void> {
  // A fresh load each time: going to the URL already shown would change nothing.
  await page.goto('about:blank');
  await page.goto(`${base}/ui/#/${view}`);
  await page.waitForSelector('main[data-loaded="true"]', { timeout: 10_000 });
}

export async function screenshot(t: ExecutionContext, page: Page, name: string): Promise<void> {
  const path = `${SCREENSHOTS}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  t.log(`screenshot: ${path}`);
}
