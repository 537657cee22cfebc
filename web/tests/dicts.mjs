// Loads the two dictionaries (plain object literals in TS files) without a TS toolchain:
// each language is its main file and the results file merged, as src/i18n/index.ts does.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function load(file, name) {
  const src = readFileSync(join(here, '..', 'src', 'i18n', file), 'utf8');
  const start = src.indexOf(`export const ${name}`);
  const open = src.indexOf('{', start);
  const close = src.indexOf('\n};', open);
  if (start < 0 || open < 0 || close < 0) throw new Error(`${file}: cannot find ${name} = {...};`);
  // Our own file: an object literal of string values.
  return new Function(`return (${src.slice(open, close + 2)});`)();
}

export const en = { ...load('en.ts', 'en'), ...load('results-en.ts', 'resultsEn') };
export const zhCN = { ...load('zh-CN.ts', 'zhCN'), ...load('results-zh-CN.ts', 'resultsZhCN') };
