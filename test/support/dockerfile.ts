import { posix } from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { parse as parseShell, type ParseEntry } from 'shell-quote';

/**
 * A Dockerfile as docker builds it with some build arguments: parsed by dockerfile-ast (the parser
 * of VS Code's Docker language server), each variable put in where docker puts it in, and each
 * shell command split into its words by shell-quote. What an image holds is traced through its
 * COPY instructions and the `cp` of its RUN steps, back to the build context or to a stage's RUN.
 */

/** One instruction of a stage. */
export interface Step {
  keyword: string;
  /** Its flags (`--from=build`: `from`), variables put in. */
  flags: Record<string, string>;
  /**
   * Its words, quotes removed and variables in scope put in, for the instructions docker expands
   * (COPY, ADD, ENV, EXPOSE, USER, VOLUME, WORKDIR); the others (RUN, CMD, HEALTHCHECK…) keep
   * their words as written, since a shell expands them, not docker.
   */
  words: string[];
  /** CMD, ENTRYPOINT, HEALTHCHECK CMD: the array of the exec form; undefined in shell form. */
  exec?: string[];
  /** RUN: its commands (split at &&, ||, ;, |), each as the words the shell runs, ARG and ENV put in. */
  commands: string[][];
  /** The working directory the instruction runs in. */
  workdir: string;
}

export interface Stage {
  name: string | undefined;
  /** The image or earlier stage it is built FROM. */
  from: string;
  steps: Step[];
  /** ENV as it stands at the stage's end: what its containers start with. */
  env: Record<string, string>;
}

const EXPANDED = new Set(['ADD', 'COPY', 'ENV', 'EXPOSE', 'FROM', 'USER', 'VOLUME', 'WORKDIR']);
const SEPARATORS = new Set(['&&', '||', ';', '|', '&', '(', ')', ';;']);

/** The words of a shell text, as `sh` splits and expands them with `vars`; redirections dropped. */
export function shellCommands(text: string, vars: Record<string, string>): string[][] {
  const commands: string[][] = [[]];
  let redirected = false;
  for (const entry of parseShell(text, (name) => vars[name] ?? '') as ParseEntry[]) {
    if (typeof entry === 'string') {
      if (!redirected) commands.at(-1)!.push(entry);
      redirected = false;
    } else if ('op' in entry && entry.op === 'glob') commands.at(-1)!.push(entry.pattern);
    else if ('op' in entry && SEPARATORS.has(entry.op)) commands.push([]);
    else if ('op' in entry) redirected = true;
  }
  return commands.filter((command) => command.length > 0);
}

function execForm(text: string): string[] | undefined {
  if (!text.trimStart().startsWith('[')) return undefined;
  const array: unknown = JSON.parse(text);
  return Array.isArray(array) && array.every((word) => typeof word === 'string') ? array : undefined;
}

/** The words of an instruction docker expands: the exec form's array, or its words as a shell splits them. */
const expandedWords = (text: string, vars: Record<string, string>) =>
  execForm(text) ?? shellCommands(text, vars).flat();

function envPairs(words: string[]): Array<[string, string]> {
  // The old form, `ENV NAME value with spaces`, sets one variable.
  if (words.length > 0 && !words[0]!.includes('=')) return [[words[0]!, words.slice(1).join(' ')]];
  return words.map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]);
}

function argOf(instruction: Instruction): [string, string | undefined] {
  const [name, ...value] = (instruction.getArgumentsContent() ?? '').trim().split('=');
  return [name!, value.length > 0 ? value.join('=') : undefined];
}

/**
 * The stages of `text` built with `buildArgs`: a global ARG (before the first FROM) is in scope
 * for FROM lines only, a stage sees an ARG once it declares it (with the build argument's value,
 * else its default, else the global one) and an ENV once set, as docker's rules are.
 */
export function buildStages(text: string, buildArgs: Record<string, string>): Stage[] {
  const stages: Stage[] = [];
  const globals: Record<string, string> = {};
  let scope: Record<string, string> = globals;
  let stage: Stage | undefined;
  let workdir = '/';
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    const keyword = instruction.getKeyword();
    const content = instruction.getArgumentsContent() ?? '';
    const flagged = instruction as Instruction & { getFlags?: () => Array<{ getName(): string; getValue(): string }> };
    const flags = Object.fromEntries(
      (flagged.getFlags?.() ?? []).map((flag) => [
        flag.getName(),
        expandedWords(flag.getValue() ?? '', scope)[0] ?? '',
      ]),
    );
    if (keyword === 'ARG') {
      const [name, value] = argOf(instruction);
      const given = buildArgs[name] ?? (value === undefined ? undefined : expandedWords(value, scope)[0]);
      const known = given ?? (stage ? globals[name] : undefined);
      if (known !== undefined) scope[name] = known;
      continue;
    }
    if (keyword === 'FROM') {
      const [from = '', , name] = expandedWords(content, globals);
      stage = { name, from, steps: [], env: { ...(stages.find((s) => s.name === from)?.env ?? {}) } };
      workdir = stages.find((s) => s.name === from)?.steps.at(-1)?.workdir ?? '/';
      stages.push(stage);
      scope = { ...stage.env };
      continue;
    }
    if (!stage) continue;
    const words = EXPANDED.has(keyword) ? expandedWords(content, scope) : content.trim().split(/\s+/);
    if (keyword === 'WORKDIR') workdir = posix.resolve(workdir, words[0] ?? '.');
    if (keyword === 'ENV') for (const [name, value] of envPairs(words)) scope[name] = stage.env[name] = value;
    const subcommand = keyword === 'HEALTHCHECK' ? content.trim().split(/\s+/)[0] : undefined;
    const exec = ['CMD', 'ENTRYPOINT'].includes(keyword)
      ? execForm(content)
      : subcommand === 'CMD'
        ? execForm(content.trim().slice(3))
        : undefined;
    const commands = keyword === 'RUN' && !execForm(content) ? shellCommands(content, scope) : [];
    stage.steps.push({ keyword, flags, words, ...(exec ? { exec } : {}), commands, workdir });
  }
  return stages;
}
