// Differential corpus: input JSON text \t JSON.stringify(JSON.parse(input))
const lines = [];
const buf = new ArrayBuffer(8); const dv = new DataView(buf);
function rnd(n) { return Math.floor(Math.random() * n); }
function randDouble() {
  for (let i = 0; i < 8; i++) dv.setUint8(i, rnd(256));
  return dv.getFloat64(0);
}
function numText() {
  const k = rnd(6);
  if (k === 0) { const d = randDouble(); return isFinite(d) ? String(d).replace('+','') : '1'; }
  if (k === 1) { // decimal string with many digits
    let s = (Math.random() < 0.5 ? '-' : '') + String(1 + rnd(9));
    for (let i = 0, n = rnd(25); i < n; i++) s += rnd(10);
    if (Math.random() < 0.5) { s += '.'; for (let i = 0, n = 1 + rnd(20); i < n; i++) s += rnd(10); }
    if (Math.random() < 0.6) s += (Math.random()<0.5?'e':'E') + (['','+','-'][rnd(3)]) + rnd(400);
    return s;
  }
  if (k === 2) return String(rnd(2 ** 31) * 2 ** rnd(60));
  if (k === 3) return '0.' + '0'.repeat(rnd(10)) + String(1 + rnd(1e6));
  if (k === 4) return String(Math.random() * 10 ** (rnd(50) - 25));
  return String(rnd(1e6)) + 'e' + (rnd(50) - 25);
}
function strText() {
  let s = '"';
  for (let i = 0, n = rnd(12); i < n; i++) {
    const k = rnd(8);
    if (k === 0) s += '\\u' + rnd(0x10000).toString(16).padStart(4, '0');
    else if (k === 1) s += '\\u' + (0xd800 + rnd(0x800)).toString(16).padStart(4, '0');
    else if (k === 2) s += ['\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t'][rnd(8)];
    else if (k === 3) s += String.fromCodePoint(0x80 + rnd(0x10ff00)).replace(/[\ud800-\udfff]/g, 'x');
    else s += String.fromCharCode(0x20 + rnd(0x5f)).replace(/["\\]/g, 'q');
  }
  return s + '"';
}
function keyText() {
  const k = rnd(5);
  if (k === 0) return '"' + rnd(20) + '"';
  if (k === 1) return '"' + ['0', '01', '-1', '4294967294', '4294967295', '1.5', '1e3', '10'][rnd(8)] + '"';
  if (k === 2) return '"' + ['a', 'b', 'c', 'nonce', '__proto__'][rnd(5)] + '"';
  return strText();
}
function value(d) {
  const k = rnd(d > 3 ? 4 : 7);
  if (k === 0) return numText();
  if (k === 1) return strText();
  if (k === 2) return ['true', 'false', 'null'][rnd(3)];
  if (k === 3) return numText();
  if (k === 4) { const a = []; for (let i = 0, n = rnd(5); i < n; i++) a.push(value(d + 1)); return '[' + a.join(' , ') + ']'; }
  const o = []; for (let i = 0, n = rnd(7); i < n; i++) o.push(keyText() + ' : ' + value(d + 1)); return '{' + o.join(',') + '}';
}
for (let i = 0; i < 100000; i++) {
  const input = value(0);
  let out;
  try { out = JSON.stringify(JSON.parse(input)); } catch (e) { continue; }
  if (input.includes('\t') || input.includes('\n')) continue;
  lines.push(input + '\t' + out);
}
// Plus random doubles directly
for (let i = 0; i < 200000; i++) { const d = randDouble(); if (!isFinite(d)) continue; const t = JSON.stringify(d); lines.push(t + '\t' + JSON.stringify(JSON.parse(t))); const e = d.toExponential(rnd(20)); lines.push(e + '\t' + JSON.stringify(JSON.parse(e))); }
require('fs').writeFileSync('corpus.tsv', lines.join('\n') + '\n');
console.log(lines.length);
