// Records which sources the committed prebuilt extension was built from: the SHA-256 of
// package.json, package-lock.json, tsconfig.json and every file under src/, style/ and schema/
// (each as its path, a NUL, its bytes, a NUL; paths sorted). The Python test
// tests/extension/test_labextension.py computes the same hash and fails when the
// committed build is older than the sources.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function walk(dir) {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const files = [
  ...['package.json', 'package-lock.json', 'tsconfig.json'].map(name => join(root, name)),
  ...walk(join(root, 'src')),
  ...walk(join(root, 'style')),
  ...walk(join(root, 'schema'))
]
  .map(path => relative(root, path).split(sep).join('/'))
  .sort();
const hash = createHash('sha256');
for (const name of files) {
  hash.update(name);
  hash.update('\0');
  hash.update(readFileSync(join(root, name)));
  hash.update('\0');
}
const digest = hash.digest('hex');
writeFileSync(join(root, '..', 'extension', 'labextension', 'source-hash.txt'), `${digest}\n`);
console.log(`sources ${digest}`);
