import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Stage, Step } from './dockerfile.js';

/** Where a path of an image comes from. */
export type Origin =
  /** A file or folder of the build context, at `path` (relative to its root). */
  | { kind: 'context'; path: string }
  /**
   * Made by the RUN steps of `stage` or of the stages it is built on (`commands`, in order), at
   * `path` relative to the stage's last working directory; nothing copied it there.
   */
  | { kind: 'made'; stage: string; path: string; commands: string[][] }
  | { kind: 'missing'; why: string };

/** The build context: the repository's root, less what its .dockerignore leaves out. */
export function buildContext(root: string) {
  const patterns = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      // Docker's patterns: ** any folders, * anything within one name; a folder left out takes what it holds.
      const body = line
        .replace(/^\/+/, '')
        .split('**/')
        .map((part) =>
          part
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
        )
        .join('(?:.*/)?');
      return new RegExp(`^${body}(?:/.*)?$`);
    });
  const ignored = (path: string) => patterns.some((pattern) => pattern.test(path));
  return {
    /** Whether `path` (relative to the root) is sent to docker: it exists and .dockerignore keeps it. */
    has: (path: string) => !ignored(path) && existsSync(join(root, path)),
    isFolder: (path: string) => existsSync(join(root, path)) && statSync(join(root, path)).isDirectory(),
    ignored,
  };
}
export type BuildContext = ReturnType<typeof buildContext>;

/** Where each source of a copy to `dest` lands: a folder's contents into `dest`, or `dest`/name. */
interface Copied {
  source: string;
  landsAt: string;
}

/** The copies of a COPY, ADD or a RUN's `cp`; `isFolder` tells whether a COPY's source is a folder. */
function copiesOf(step: Step, isFolder: (source: string) => boolean): Copied[] {
  const inFolder = (sources: string[], dest: string) => dest.endsWith('/') || sources.length > 1;
  if (step.keyword === 'COPY' || step.keyword === 'ADD') {
    const sources = step.words.slice(0, -1);
    const dest = step.words.at(-1) ?? '';
    const to = posix.resolve(step.workdir, dest);
    // Docker copies a folder's contents, and a file into a folder under its own name.
    return sources.map((source) => ({
      source,
      landsAt: isFolder(source) || !inFolder(sources, dest) ? to : posix.join(to, posix.basename(source)),
    }));
  }
  return step.commands.flatMap((command) => {
    const words = command.slice(command.findIndex((word) => !['then', 'else', 'do'].includes(word)));
    if (words[0] !== 'cp') return [];
    const paths = words.slice(1).filter((word) => !word.startsWith('-'));
    const sources = paths.slice(0, -1).map((source) => posix.resolve(step.workdir, source));
    const dest = paths.at(-1) ?? '';
    const to = posix.resolve(step.workdir, dest);
    return sources.map((source) => ({
      source,
      landsAt: inFolder(sources, dest) ? posix.join(to, posix.basename(source)) : to,
    }));
  });
}

const under = (path: string, folder: string) =>
  path === folder ? '' : path.startsWith(`${folder}/`) ? path.slice(folder.length) : undefined;

/**
 * Where `path` of stage `index` comes from, as it stands before step `before` (of the stage and the
 * stages it is built on, the first first, each command of a RUN a step): the last COPY or `cp`
 * that put it there, followed back to the build context; else the RUN steps before it made it.
 */
export function originOf(
  stages: Stage[],
  context: BuildContext,
  path: string,
  index = stages.length - 1,
  before?: number,
): Origin {
  // A RUN's commands one by one: a `cp` takes what the commands before it in the same RUN made.
  const chain = stagesBehind(stages, index).flatMap((stage) =>
    stage.steps.flatMap((step) =>
      step.keyword === 'RUN' ? step.commands.map((command) => ({ ...step, commands: [command] })) : [step],
    ),
  );
  const steps = chain.slice(0, before ?? chain.length);
  for (let at = steps.length - 1; at >= 0; at -= 1) {
    const step = steps[at]!;
    const isFolder = (source: string) => {
      if (!step.flags.from) return context.isFolder(source);
      // In another stage, a source is a folder unless it is a file of the build context.
      const origin = originOfCopy(stages, context, step, index, at, source);
      return origin.kind !== 'context' || context.isFolder(origin.path);
    };
    for (const { source, landsAt } of copiesOf(step, isFolder).reverse()) {
      const rest = under(path, landsAt);
      if (rest === undefined) continue;
      const origin = originOfCopy(stages, context, step, index, at, source + rest);
      // A copy from the context of what .dockerignore leaves out copies nothing there.
      if (origin.kind !== 'missing' || step.flags.from) return origin;
    }
  }
  const stage = stages[index]!;
  return {
    kind: 'made',
    stage: stage.name ?? String(index),
    path: posix.relative(steps.at(-1)?.workdir ?? '/', path),
    commands: steps.flatMap((step) => step.commands),
  };
}

function originOfCopy(
  stages: Stage[],
  context: BuildContext,
  step: Step,
  index: number,
  at: number,
  source: string,
): Origin {
  const from = step.flags.from;
  if (from !== undefined) {
    const named = stages.findIndex((other, i) => i < index && (other.name === from || String(i) === from));
    if (named < 0) return { kind: 'missing', why: `COPY --from=${from}: no earlier stage is named ${from}` };
    return originOf(stages, context, posix.resolve('/', source), named);
  }
  if (step.keyword === 'RUN') return originOf(stages, context, source, index, at);
  const path = posix.normalize(source).replace(/^\.?\//, '');
  return context.has(path)
    ? { kind: 'context', path }
    : { kind: 'missing', why: `${path} is not in the build context` };
}

/** The stage `index` and those it is built on, the first first. */
function stagesBehind(stages: Stage[], index: number): Stage[] {
  const stage = stages[index]!;
  const parent = stages.findIndex((other, at) => at < index && other.name === stage.from);
  return [...(parent >= 0 ? stagesBehind(stages, parent) : []), stage];
}
