import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { shellCommands, type Stage } from './dockerfile.js';
import { originOf, type BuildContext, type Origin } from './image-origin.js';

/**
 * What an image built from the one Dockerfile must be for one service, each check returning its
 * problems (none when it holds), so that a Dockerfile written otherwise can be held to the same.
 */

/** A service as the checks know it: its name, its port, and how its config reads an environment. */
export interface ImageService {
  name: string;
  port: number;
  /** The database path its config takes from `env`, or undefined when it takes none. */
  databasePath(env: Record<string, string>): string | undefined;
  /** Files of the repository its process reads, beyond its build, its package.json and migrations. */
  extraFiles: string[];
}

const runtimeOf = (stages: Stage[]) => stages.at(-1)!;
const stepsOf = (stage: Stage, keyword: string) => stage.steps.filter((step) => step.keyword === keyword);
const workdirOf = (stage: Stage) => stage.steps.at(-1)?.workdir ?? '/';

/** npm's words as options and positionals: `-w x`, `--workspace x` and `--workspace=x` alike. */
function npmCommand(words: string[]): { positional: string[]; options: Record<string, string | true> } | undefined {
  if (words[0] !== 'npm') return undefined;
  const alias: Record<string, string> = { w: 'workspace' };
  const positional: string[] = [];
  const options: Record<string, string | true> = {};
  for (let at = 1; at < words.length; at += 1) {
    const word = words[at]!;
    if (!word.startsWith('-')) {
      positional.push(word);
      continue;
    }
    const [name = '', value] = word.replace(/^-+/, '').split('=');
    const key = alias[name] ?? name;
    const takesValue = ['workspace', 'omit'].includes(key) && value === undefined;
    options[key] = value ?? (takesValue ? (words[++at] ?? '') : true);
  }
  return { positional, options };
}

const isInstall = (words: string[]) => npmCommand(words)?.positional[0] === 'ci';
const omitsDev = (words: string[]) => npmCommand(words)?.options.omit === 'dev';
const buildsWorkspace = (words: string[], name: string) => {
  const npm = npmCommand(words);
  return npm?.positional.join(' ') === 'run build' && npm.options.workspace === name;
};

/** The repository's files under `folder`, relative to `root`. */
function filesUnder(root: string, folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

/** The file the service's package.json starts it with (its `main`), relative to the image's working directory. */
const mainOf = (root: string, folder: string) =>
  posix.join(folder, (JSON.parse(readFileSync(join(root, folder, 'package.json'), 'utf8')) as { main: string }).main);

/** Several stages, each COPY --from names an earlier one, and the runtime stage starts from an image, not a stage. */
export function stageProblems(stages: Stage[]): string[] {
  const problems = stages.length < 2 ? ['one stage only: the build would stay in the image'] : [];
  stages.forEach((stage, index) => {
    for (const step of stepsOf(stage, 'COPY').filter((copy) => copy.flags.from !== undefined)) {
      const from = step.flags.from!;
      if (!stages.slice(0, index).some((other, at) => other.name === from || String(at) === from))
        problems.push(`COPY --from=${from}: no earlier stage is named ${from}`);
    }
  });
  const runtime = runtimeOf(stages);
  if (stages.slice(0, -1).some((stage) => stage.name === runtime.from))
    problems.push(`the runtime stage is built on the stage ${runtime.from}, not on a clean image`);
  return problems;
}

/** Every file a COPY takes from the build context is there: in the repository, and not left out by .dockerignore. */
export function contextProblems(stages: Stage[], context: BuildContext): string[] {
  return stages
    .flatMap((stage) => stepsOf(stage, 'COPY').filter((step) => step.flags.from === undefined))
    .flatMap((step) => step.words.slice(0, -1))
    .filter((source) => !context.has(posix.normalize(source).replace(/\/$/, '')))
    .map((source) => `COPY ${source}: not in the build context`);
}

function originProblem(
  origin: Origin,
  path: string,
  context: BuildContext,
  wanted: (commands: string[][]) => string | undefined,
) {
  if (origin.kind === 'missing') return `${path}: ${origin.why}`;
  if (origin.kind === 'context')
    return origin.path === path ? undefined : `${path} is the context's ${origin.path}, not its own`;
  if (context.has(path)) return `${path} is made by the stage ${origin.stage}, not copied from the context`;
  if (origin.path !== path) return `${path} would be the stage ${origin.stage}'s ${origin.path}`;
  return wanted(origin.commands);
}

/**
 * The image holds, at the working directory its CMD runs in, each file the service runs from,
 * each traced to where it comes from: the context's own file, or the output of the service's
 * workspace build; node_modules is made by `npm ci --omit=dev` alone.
 */
export function holdingProblems(stages: Stage[], service: ImageService, root: string, context: BuildContext): string[] {
  const workdir = workdirOf(runtimeOf(stages));
  const built = (commands: string[][]) =>
    commands.some((words) => buildsWorkspace(words, service.name)) &&
    commands.findIndex(isInstall) < commands.findIndex((words) => buildsWorkspace(words, service.name))
      ? undefined
      : `not built by npm ci and then npm run build -w ${service.name}`;
  const files = [
    'package.json',
    posix.join('packages/common', 'package.json'),
    mainOf(root, 'packages/common'),
    posix.join(service.name, 'package.json'),
    mainOf(root, service.name),
    ...filesUnder(root, posix.join(service.name, 'migrations')),
    ...service.extraFiles,
  ];
  const problems = files.map((path) =>
    originProblem(originOf(stages, context, posix.resolve(workdir, path)), path, context, (commands) => {
      const problem = built(commands);
      return problem && `${path}: ${problem}`;
    }),
  );
  const modules = originOf(stages, context, posix.resolve(workdir, 'node_modules'));
  problems.push(
    originProblem(modules, 'node_modules', context, (commands) => {
      const installs = commands.filter(isInstall);
      return installs.length > 0 && installs.every(omitsDev)
        ? undefined
        : 'node_modules is not made by npm ci --omit=dev alone: dev dependencies would be in the image';
    }),
  );
  return problems.filter((problem): problem is string => problem !== undefined);
}

/**
 * The container starts node itself on the service's main file (so SIGTERM reaches node): CMD's
 * exec form, either node or a shell whose one command is `exec node <file>` with the image's ENV.
 */
export function startProblems(stages: Stage[], service: ImageService, root: string): string[] {
  const runtime = runtimeOf(stages);
  const cmd = stepsOf(runtime, 'CMD').at(-1);
  if (stepsOf(runtime, 'ENTRYPOINT').length > 0) return ['an ENTRYPOINT stands between the container and node'];
  if (!cmd?.exec) return [`CMD is not in exec form (${cmd ? cmd.words.join(' ') : 'none'}): a shell would get SIGTERM`];
  let argv = cmd.exec;
  if (['sh', '/bin/sh', 'bash', '/bin/bash'].includes(argv[0]!) && argv[1] === '-c') {
    const commands = argv[2] === undefined ? [] : shellCommands(argv[2], runtime.env);
    if (commands.length !== 1 || commands[0]![0] !== 'exec')
      return [`the shell of CMD does not exec node as its one command: ${argv[2]}`];
    argv = commands[0]!.slice(1);
  }
  const wanted = mainOf(root, service.name);
  const [program, file] = argv;
  if (!['node', '/usr/local/bin/node'].includes(program ?? '') || argv.length !== 2)
    return [`CMD runs ${argv.join(' ')}, not node ${wanted}`];
  return posix.resolve(workdirOf(runtime), file!) === posix.resolve(workdirOf(runtime), wanted)
    ? []
    : [`CMD starts ${file}, not ${wanted}`];
}

/** It runs as node, exposes its port, and keeps its database in a volume that node may write. */
export function runtimeProblems(stages: Stage[], service: ImageService): string[] {
  const runtime = runtimeOf(stages);
  const problems: string[] = [];
  const user = stepsOf(runtime, 'USER').at(-1)?.words[0];
  if (user !== 'node') problems.push(`runs as ${user ?? 'root'}, not node`);
  const exposed = stepsOf(runtime, 'EXPOSE').flatMap((step) => step.words.map((word) => word.split('/')[0]));
  if (!exposed.includes(String(service.port)))
    problems.push(`exposes ${exposed.join(', ') || 'nothing'}, not ${service.port}`);
  if (runtime.env.PORT !== String(service.port)) problems.push(`PORT is ${runtime.env.PORT}, not ${service.port}`);
  const database = service.databasePath(runtime.env);
  const folder = database && posix.dirname(database);
  const volumes = stepsOf(runtime, 'VOLUME').flatMap((step) => step.words);
  if (!folder || !volumes.includes(folder))
    problems.push(`the database ${database} is not in a volume (${volumes.join(', ')})`);
  const owned = stepsOf(runtime, 'RUN')
    .flatMap((step) => step.commands)
    .some(
      (words) => words[0] === 'chown' && words.some((word) => /^node(:|$)/.test(word)) && words.includes(folder ?? ''),
    );
  if (!owned) problems.push(`the database's folder ${folder} is not made node's`);
  return problems;
}

/** HEALTHCHECK's exec form, run with the image's ENV and PORT set to `port`: its exit code, or why it cannot run. */
export function runHealthcheck(stages: Stage[], port: number): Promise<number | string> {
  const check = stepsOf(runtimeOf(stages), 'HEALTHCHECK').at(-1);
  if (!check?.exec) return Promise.resolve('HEALTHCHECK is not an exec-form CMD');
  const [program, ...args] = check.exec;
  const env = { PATH: process.env.PATH ?? '', ...runtimeOf(stages).env, PORT: String(port) };
  // The image's node is this node.
  const command = program === 'node' ? process.execPath : program!;
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 10_000 }, (error) =>
      resolve(error ? (typeof error.code === 'number' ? error.code : String(error.code ?? error.message)) : 0),
    );
  });
}
