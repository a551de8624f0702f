/**
 * Shell completion. `audit-lab completion bash|zsh|fish` prints a script that asks the hidden
 * `audit-lab __complete WORD... CURRENT` for candidates, one per line, on every <TAB>. The command
 * tree comes from the commander program itself (cli.ts commandTree), so a new flag completes
 * without a change here. `__complete` runs on every keypress: it loads no yaml, execa, server or
 * x509, and reads lab and sink names with JSON.parse alone (lab/labs.ts).
 */
import type { IO } from './io.js';
import { labNames, sinkNames } from './lab/labs.js';
import { DEFAULT_LAB_NAME, labHome } from './lab/paths.js';

export type Shell = 'bash' | 'zsh' | 'fish';

/** What a flag's or an argument's value is: what completion offers for it. */
export type ValueKind = 'lab' | 'sink' | 'file' | 'command' | { choices: readonly string[] };

export interface OptionSpec {
  /** Long flag first, then the short one. */
  flags: string[];
  /** null for a switch, which takes no value. */
  value: ValueKind | null;
}

export interface CommandSpec {
  name: string;
  options: OptionSpec[];
  args: ValueKind[];
  commands: CommandSpec[];
}

/** The answer that asks the shell to complete file names itself. */
export const FILES = ':files';

const BASH = `# audit-lab completion for bash. Load it with: source <(audit-lab completion bash)
_audit_lab_complete() {
  local IFS=$'\\n'
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local out
  out=$(audit-lab __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  if [[ $out == "${FILES}" ]]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
  fi
}
complete -F _audit_lab_complete audit-lab
`;

const ZSH = `#compdef audit-lab
# audit-lab completion for zsh. Load it with: source <(audit-lab completion zsh)
# (after compinit), or save it as _audit-lab in a directory of $fpath.
_audit_lab() {
  local out
  local -a candidates
  out=$(audit-lab __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  if [[ $out == "${FILES}" ]]; then
    _files
    return
  fi
  candidates=(\${(f)out})  # unquoted: no output, no candidate
  compadd -a candidates
}
# Autoloaded from $fpath, this file is the body of _audit-lab: complete now. Sourced: register.
if [[ $funcstack[1] == _audit-lab ]]; then
  _audit_lab "$@"
else
  compdef _audit_lab audit-lab
fi
`;

const FISH = `# audit-lab completion for fish. Load it with: audit-lab completion fish | source
function __audit_lab_complete
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cur (commandline -ct)
    set -l out (audit-lab __complete $tokens "$cur" 2>/dev/null)
    if test "$out" = "${FILES}"
        __fish_complete_path "$cur"
        return
    end
    printf '%s\\n' $out
end
complete -c audit-lab -f -a '(__audit_lab_complete)'
`;

export function completionScript(shell: Shell): string {
  return { bash: BASH, zsh: ZSH, fish: FISH }[shell];
}

/** The global options (the program's own, but --version) hold for every command below it. */
function optionsOf(chain: readonly CommandSpec[]): OptionSpec[] {
  const [root, ...below] = chain;
  if (root === undefined) return [];
  if (below.length === 0) return root.options;
  return [...below.flatMap((c) => c.options), ...root.options.filter((o) => !o.flags.includes('--version'))];
}

async function valuesOf(
  kind: ValueKind,
  at: { home: string; lab: string; tree: CommandSpec; operands: string[] },
): Promise<string[] | typeof FILES> {
  if (kind === 'file') return FILES;
  if (kind === 'lab') return labNames(at.home);
  if (kind === 'sink') return sinkNames(at.home, at.lab);
  if (kind === 'command') {
    let node: CommandSpec | undefined = at.tree;
    for (const w of at.operands) node = node?.commands.find((c) => c.name === w);
    return node?.commands.map((c) => c.name) ?? [];
  }
  return [...kind.choices];
}

/**
 * The candidates for the last of `words` (the word being typed, maybe empty), given the words
 * before it (after `audit-lab`): subcommands, flags, or the values of the flag or argument there.
 */
export async function candidates(
  tree: CommandSpec,
  words: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<string[] | typeof FILES> {
  const cur = words.at(-1) ?? '';
  const chain = [tree];
  let cmd = tree;
  let lab = DEFAULT_LAB_NAME;
  const operands: string[] = [];
  let pending: OptionSpec | undefined;
  const findOption = (flag: string) => optionsOf(chain).find((o) => o.flags.includes(flag));
  for (const w of words.slice(0, -1)) {
    if (pending !== undefined) {
      // bash splits `--name=lab2` into `--name`, `=` and `lab2`.
      if (w === '=') continue;
      if (pending.flags.includes('--name')) lab = w;
      pending = undefined;
    } else if (w.startsWith('-') && w !== '-') {
      const eq = w.indexOf('=');
      const option = findOption(eq === -1 ? w : w.slice(0, eq));
      if (option?.value != null && eq === -1) pending = option;
      if (option?.flags.includes('--name') && eq !== -1) lab = w.slice(eq + 1);
    } else {
      const sub = operands.length === 0 ? cmd.commands.find((c) => c.name === w) : undefined;
      if (sub === undefined) operands.push(w);
      else {
        cmd = sub;
        chain.push(sub);
      }
    }
  }
  const at = { home: labHome(env, cwd), lab, tree, operands };
  let found: string[] | typeof FILES;
  let prefix = '';
  if (pending?.value != null) {
    found = await valuesOf(pending.value, at);
  } else if (cur.startsWith('--') && cur.includes('=')) {
    prefix = cur.slice(0, cur.indexOf('=') + 1);
    const option = findOption(prefix.slice(0, -1));
    found = option?.value != null ? await valuesOf(option.value, at) : [];
  } else if (cur.startsWith('-')) {
    found = [...optionsOf(chain).flatMap((o) => o.flags), '--help'];
  } else if (cmd.commands.length > 0 && operands.length === 0) {
    found = cmd.commands.map((c) => c.name);
  } else {
    const kind = cmd.args[Math.min(operands.length, cmd.args.length - 1)];
    found = kind === undefined ? [] : await valuesOf(kind, at);
  }
  if (found === FILES) return FILES;
  return found.map((v) => prefix + v).filter((v) => v.startsWith(cur));
}

/** `audit-lab __complete WORD...`: the candidates, one per line, or FILES. Never fails a <TAB>. */
export async function complete(tree: CommandSpec, words: readonly string[], io: IO): Promise<number> {
  const found = await candidates(tree, words, io.env, io.cwd);
  const lines = found === FILES ? [FILES] : found;
  if (lines.length > 0) io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
