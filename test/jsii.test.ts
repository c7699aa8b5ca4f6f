/**
 * The construct for other languages: jsii compiles the library with zero warnings, its assembly
 * carries every public type and member the TypeScript API has, documented, and API.md is what
 * jsii-docgen renders from it. jsii compiles a copy of the sources, so the test judges the code
 * as it is now, not a `.jsii` left by an older build.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as ts from 'typescript';
import { API_REFERENCE, renderApiReference } from '../scripts/api-docs';
import { README, readmeBlock, translateToPython } from '../scripts/python-example';

const REPO = join(__dirname, '..');
const MANIFEST = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  jsii: { tsconfig: string };
};
// jsii type-checks lib and everything it imports (aws-cdk-lib's declarations included), then
// writes the assembly: ~15 s alone, several times that next to other workers.
const COMPILE_TIMEOUT = 240_000;

interface Docs {
  summary?: string;
  default?: string;
}
interface Member {
  name: string;
  docs?: Docs;
  optional?: boolean;
  parameters?: Array<{ name: string; type: unknown }>;
  locationInModule?: { filename: string };
}
interface JsiiType {
  fqn: string;
  kind: 'class' | 'interface' | 'enum';
  datatype?: boolean;
  base?: string;
  docs?: Docs;
  initializer?: Member;
  properties?: Member[];
  methods?: Member[];
  members?: Member[];
  locationInModule?: { filename: string };
}
interface Assembly {
  name: string;
  types: Record<string, JsiiType>;
}

let project: string;
let compilerOutput: string;
let assembly: Assembly;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'rwc-jsii-'));
  for (const entry of ['lib', 'lambda', 'package.json', MANIFEST.jsii.tsconfig, 'README.md', 'LICENSE']) {
    cpSync(join(REPO, entry), join(project, entry), { recursive: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(project, 'node_modules'), 'dir');
  compilerOutput = execFileSync(join(REPO, 'node_modules', '.bin', 'jsii'), ['--fail-on-warnings'], {
    cwd: project,
    env: { ...process.env, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: '20', JSII_SILENCE_SUPPORT_WARNING: '1' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: COMPILE_TIMEOUT - 20_000,
  });
  assembly = JSON.parse(readFileSync(join(project, '.jsii'), 'utf8')) as Assembly;
}, COMPILE_TIMEOUT);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

const fqn = (name: string) => `${MANIFEST.name}.${name}`;
const typeNamed = (name: string): JsiiType => {
  const type = assembly.types[fqn(name)];
  if (!type) throw new Error(`${name} is not in the jsii assembly`);
  return type;
};

test('jsii compiles the library with no warning, from lib and the pure core only', () => {
  expect(compilerOutput).toMatch(/Errors: 0 \| Warnings: 0/);
  // What jsii emitted is what it compiled: the handlers, local mode, bench, tests and scripts stay out.
  const emitted = readdirSync(join(project, 'dist'), { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.js'))
    .map((path) => path.split('\\').join('/'));
  expect(emitted).toContain('lib/index.js');
  const outside = emitted.filter(
    (path) =>
      !/^lib\/[^/]+\.js$/.test(path) && !/^lambda\/shared\/[^/]+\.js$/.test(path) && !/^lambda\/[a-z]+\/settings\.js$/.test(path),
  );
  expect(outside).toEqual([]);
});

test('the assembly has the construct, its props struct and its methods', () => {
  const construct = typeNamed('ReplicateWebhooks');
  expect(construct.kind).toBe('class');
  expect(construct.base).toBe('constructs.Construct');
  expect(construct.initializer?.parameters?.map((parameter) => [parameter.name, parameter.type])).toEqual([
    ['scope', { fqn: 'constructs.Construct' }],
    ['id', { primitive: 'string' }],
    ['props', { fqn: fqn('ReplicateWebhooksProps') }],
  ]);
  expect(typeNamed('ReplicateWebhooksProps')).toMatchObject({ kind: 'interface', datatype: true });
  const methods = (construct.methods ?? []).map((method) => method.name);
  expect(methods).toEqual(
    expect.arrayContaining(['onCompletion', 'grantReadArchive', 'alarm', 'metric', 'metricWebhooksRejected']),
  );
});

/**
 * The public API as TypeScript sees it: every class, interface and enum lib/index.ts exports
 * (but those marked `@jsii ignore`), with its own public members.
 */
function typescriptApi(): Map<string, string[]> {
  // The sources alone, unresolved: the names and members are in them, and aws-cdk-lib's
  // declarations would only make this slow.
  const roots = ['lib', join('lambda', 'shared')].flatMap((folder) =>
    readdirSync(join(REPO, folder))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => join(REPO, folder, file)),
  );
  const program = ts.createProgram(roots, {
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    noResolve: true,
    noLib: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const entry = checker.getSymbolAtLocation(program.getSourceFile(join(REPO, 'lib', 'index.ts'))!)!;
  const api = new Map<string, string[]>();
  for (const exported of checker.getExportsOfModule(entry)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declaration = symbol.declarations?.[0];
    const ignored = (node: ts.Node) =>
      ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'jsii' && /\bignore\b/.test(String(tag.comment ?? '')));
    if (!declaration || ignored(declaration)) continue;
    if (ts.isClassDeclaration(declaration) || ts.isInterfaceDeclaration(declaration)) {
      const members = declaration.members
        .filter((member) => ts.isPropertyDeclaration(member) || ts.isPropertySignature(member) || ts.isMethodDeclaration(member))
        .filter((member) => {
          const modifiers = ts.getCombinedModifierFlags(member);
          return !(modifiers & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) && !member.name.getText().startsWith('_');
        })
        .map((member) => member.name.getText());
      api.set(symbol.name, members);
    } else if (ts.isEnumDeclaration(declaration)) {
      api.set(
        symbol.name,
        declaration.members.map((member) => member.name.getText()),
      );
    }
  }
  return api;
}

test('every public class, interface and enum of the TypeScript API is in the assembly, with all its members', () => {
  const api = typescriptApi();
  expect(api.size).toBeGreaterThan(10);
  for (const [name, members] of api) {
    const type = typeNamed(name);
    const inAssembly = [...(type.properties ?? []), ...(type.methods ?? []), ...(type.members ?? [])].map(
      (member) => member.name,
    );
    expect({ name, members: [...inAssembly].sort() }).toEqual({ name, members: [...members].sort() });
  }
  // And nothing in the assembly that TypeScript users do not have.
  expect(Object.keys(assembly.types).sort()).toEqual([...api.keys()].map(fqn).sort());
});

test('every type, property, method and enum member is documented, and every optional prop states its default', () => {
  const undocumented: string[] = [];
  const withoutDefault: string[] = [];
  for (const type of Object.values(assembly.types)) {
    if (!type.docs?.summary) undocumented.push(type.fqn);
    for (const member of [...(type.properties ?? []), ...(type.methods ?? []), ...(type.members ?? [])]) {
      if (!member.docs?.summary) undocumented.push(`${type.fqn}.${member.name}`);
    }
    if (type.datatype) {
      for (const property of type.properties ?? []) {
        if (property.optional && !property.docs?.default) withoutDefault.push(`${type.fqn}.${property.name}`);
      }
    }
  }
  expect(undocumented).toEqual([]);
  expect(withoutDefault).toEqual([]);
});

test(
  'API.md is what jsii-docgen renders from the assembly (npm run docgen rewrites it)',
  async () => {
    const rendered = await renderApiReference(project);
    const committed = readFileSync(API_REFERENCE, 'utf8');
    if (rendered !== committed) {
      throw new Error(`${relative(REPO, API_REFERENCE)} is stale: run npm run docgen and commit the result`);
    }
    expect(committed).toContain('### ReplicateWebhooks');
  },
  COMPILE_TIMEOUT,
);

test(
  "the README's Python example is jsii-rosetta's translation of its TypeScript one, which compiles against the package",
  () => {
    const readme = readFileSync(README, 'utf8');
    const typescript = readmeBlock(readme, '## Use it in your own stack', 'ts');
    const python = readmeBlock(readme, '## Other languages: Python, Java, .NET, Go', 'python');
    expect(python).toBe(translateToPython(typescript, project));
  },
  COMPILE_TIMEOUT,
);
