#!/usr/bin/env node
// The English and Chinese dictionaries have exactly the same keys, the same {placeholders}
// per key, and no empty value. `npm run test:unit`; `make test` runs it.
import { en, zhCN } from '../tests/dicts.mjs';

const errors = [];
const enKeys = Object.keys(en);
const zhKeys = Object.keys(zhCN);
for (const k of enKeys) if (!(k in zhCN)) errors.push(`zh-CN lacks ${k}`);
for (const k of zhKeys) if (!(k in en)) errors.push(`en lacks ${k}`);
const holes = (s) => [...String(s).matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
for (const k of enKeys) {
  if (!(k in zhCN)) continue;
  if (typeof en[k] !== 'string' || !en[k].trim()) errors.push(`en ${k} is empty`);
  if (typeof zhCN[k] !== 'string' || !zhCN[k].trim()) errors.push(`zh-CN ${k} is empty`);
  if (holes(en[k]) !== holes(zhCN[k])) errors.push(`${k}: placeholders differ: en {${holes(en[k])}} zh-CN {${holes(zhCN[k])}}`);
}
if (errors.length) {
  console.error(`dictionary check failed:\n  ${errors.join('\n  ')}`);
  process.exit(1);
}
console.log(`dictionaries: ${enKeys.length} keys in en and zh-CN, same keys and placeholders`);
