const fs = require('fs');
const src = fs.readFileSync('corpus.tsv', 'utf8').split('\n').filter(Boolean).map(l => l.split('\t')[0]);
const alphabet = ['{','}','[',']',',',':','"','\\','u','0','1','9','-','+','.','e','E',' ','\u000b','\u00a0','t','n','f','x','/','\ud800'];
const out = [];
for (let i = 0; i < 300000; i++) {
  let s = src[Math.floor(Math.random() * src.length)];
  const n = 1 + Math.floor(Math.random() * 3);
  for (let j = 0; j < n; j++) {
    const p = Math.floor(Math.random() * (s.length + 1));
    const op = Math.floor(Math.random() * 3);
    const c = alphabet[Math.floor(Math.random() * alphabet.length)];
    if (op === 0) s = s.slice(0, p) + c + s.slice(p);
    else if (op === 1) s = s.slice(0, p) + s.slice(p + 1);
    else s = s.slice(0, p) + c + s.slice(p + 1);
  }
  if (/[\t\n\r]/.test(s) || /[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) continue;
  let r; try { r = JSON.stringify(JSON.parse(s)); } catch (e) { r = 'ERR'; }
  out.push(s + '\t' + r);
}
fs.writeFileSync('mutated.tsv', out.join('\n') + '\n');
console.log(out.length, out.filter(l => l.endsWith('\tERR')).length);
