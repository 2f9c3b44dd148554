import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Language, Parser, type Node } from 'web-tree-sitter';
import { SCRIPT_NAMES, loadScript, scriptsDir } from '../../src/hyperv/script-loader.js';
import { bundleText } from '../../src/transport/file-delivery.js';
import { RUNNER_PS1, SSH_BOOTSTRAP_PS1, localCommand } from '../../src/transport/framing.js';

/** Every ERROR or MISSING node of a tree, as `line:col text`. */
function problems(node: Node, out: string[] = []): string[] {
  if (node.isError || node.isMissing) out.push(`${node.startPosition.row + 1}:${node.startPosition.column + 1} ${node.text.slice(0, 60)}`);
  for (const child of node.children) if (child) problems(child, out);
  return out;
}

describe('every PowerShell text hvsnap sends parses under the tree-sitter PowerShell grammar', () => {
  let parser: Parser;
  beforeAll(async () => {
    await Parser.init();
    const wasm = createRequire(import.meta.url).resolve('tree-sitter-powershell/tree-sitter-powershell.wasm');
    parser = new Parser();
    parser.setLanguage(await Language.load(wasm));
  });
  const parse = (text: string) => {
    const tree = parser.parse(text)!;
    return { hasError: tree.rootNode.hasError, problems: problems(tree.rootNode) };
  };

  it('catches a broken script (the check is real)', () => {
    expect(parse('function f { $a = ( ; }').hasError).toBe(true);
    expect(parse('if ($x) { "a" ').hasError).toBe(true);
  });

  it('finds every .ps1 on disk listed in SCRIPT_NAMES', () => {
    const onDisk = readdirSync(scriptsDir())
      .filter((f) => f.endsWith('.ps1') && f !== '_hvsnap.ps1')
      .sort();
    expect(onDisk).toEqual([...SCRIPT_NAMES].sort());
  });

  it.each(['_hvsnap.ps1', ...SCRIPT_NAMES])('%s parses as a file', (name) => {
    const r = parse(readFileSync(path.join(scriptsDir(), name), 'utf8'));
    expect(r.problems).toEqual([]);
  });

  it.each([...SCRIPT_NAMES])('%s parses as loaded (helper inlined)', (name) => {
    const text = loadScript(name);
    expect(text).not.toContain('# hvsnap:helper');
    expect(text.startsWith('# ')).toBe(true);
    expect(parse(text).problems).toEqual([]);
  });

  it('the runner, the SSH bootstrap, a file-delivery bundle and a local command parse', () => {
    expect(parse(RUNNER_PS1).problems).toEqual([]);
    expect(parse(SSH_BOOTSTRAP_PS1).problems).toEqual([]);
    expect(parse(localCommand({ name: 'x.ps1', script: 'x', input: { vm: "a'b" } })).problems).toEqual([]);
    expect(parse(bundleText({ name: "it's.ps1", script: loadScript('get-vms.ps1') })).problems).toEqual([]);
  });
});
