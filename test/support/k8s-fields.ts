import { join } from 'node:path';
import ts from 'typescript';
import { ROOT } from './cli.js';

/**
 * Fields of Kubernetes objects that their API type does not have (`concurencyPolicy`,
 * `resource:`), as paths. kubernetes-models' run-time `validate()` checks types, enums and
 * required fields but lets unknown fields through (the OpenAPI schemas allow them), and the API
 * server would refuse or drop them; its TypeScript interfaces know every field, so the
 * objects are walked along those types with the compiler's type checker.
 */
export function unknownFields(objects: Array<{ apiVersion: string; kind: string; value: unknown }>): string[][] {
  const modules = objects.map((o) => `kubernetes-models/${o.apiVersion === 'v1' ? 'v1' : o.apiVersion}/${o.kind}`);
  const file = join(ROOT, 'test/support/__k8s_fields__.ts');
  const text = objects.map((o, i) => `declare const m${i}: import('${modules[i]}').I${o.kind};`).join('\n') + '\nexport {};\n';
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (f, lang, ...rest) => (f === file ? ts.createSourceFile(f, text, lang) : getSourceFile.call(host, f, lang, ...rest));
  host.fileExists = (f) => f === file || fileExists.call(host, f);
  host.readFile = (f) => (f === file ? text : readFile.call(host, f));
  const program = ts.createProgram([file], options, host);
  const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
  if (problems.length > 0) throw new Error(`kubernetes-models types: ${problems.join('; ')}`);
  const checker = program.getTypeChecker();
  const decls = program.getSourceFile(file)!.statements.filter(ts.isVariableStatement).map((s) => s.declarationList.declarations[0]!);
  return objects.map((o, i) => {
    const out: string[] = [];
    walk(checker, checker.getTypeAtLocation(decls[i]!.name), o.value, o.kind, out);
    return out;
  });
}

function walk(checker: ts.TypeChecker, type: ts.Type, value: unknown, path: string, out: string[]): void {
  const t = checker.getNonNullableType(type);
  if (Array.isArray(value)) {
    const item = checker.isArrayType(t) ? checker.getTypeArguments(t as ts.TypeReference)[0] : undefined;
    if (item) value.forEach((v, i) => walk(checker, item, v, `${path}[${i}]`, out));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  // Maps with free keys: labels, annotations, ConfigMap data, resource quantities.
  if (checker.getIndexInfoOfType(t, ts.IndexKind.String)) return;
  for (const [k, v] of Object.entries(value)) {
    const prop = t.getProperty(k);
    if (!prop) out.push(`${path}.${k}`);
    else walk(checker, checker.getTypeOfSymbol(prop), v, `${path}.${k}`, out);
  }
}
