// Renders pages of the gateway in the system's headless Chromium, at a desktop and a phone
// width: a full-page screenshot of each, whether the page overflows sideways, and the WCAG 2
// A/AA violations axe-core finds. Prints one JSON array on stdout.
//
// Usage: node check.mjs --out DIR [--cookie "name=value"] NAME=URL...
// The browser is $CHROMIUM, else /usr/bin/chromium (Debian's `chromium` package).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const args = process.argv.slice(2);
let out = '.';
let cookie = null;
const pages = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = args[++i];
  else if (args[i] === '--cookie') cookie = args[++i];
  else {
    const at = args[i].indexOf('=');
    pages.push({ name: args[i].slice(0, at), url: args[i].slice(at + 1) });
  }
}
fs.mkdirSync(out, { recursive: true });

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const results = [];
try {
  for (const p of pages) {
    for (const width of [1280, 375]) {
      const page = await browser.newPage();
      await page.setViewport({ width, height: 800 });
      if (cookie) await page.setExtraHTTPHeaders({ cookie });
      const resp = await page.goto(p.url, { waitUntil: 'load' });
      const file = path.join(out, `${p.name}-${width}.png`);
      await page.screenshot({ path: file, fullPage: true });
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth > window.innerWidth + 1,
      );
      let violations = null;
      if (width === 1280) {
        await page.addScriptTag({ content: axeSource });
        const r = await page.evaluate(async () =>
          // eslint-disable-next-line no-undef
          axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
        );
        violations = r.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
        }));
      }
      results.push({ name: p.name, width, status: resp.status(), overflow, screenshot: file, violations });
      await page.close();
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
