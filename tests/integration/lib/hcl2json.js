// Parses each HCL file named on the command line with @cdktf/hcl2json
// (HashiCorp's HCL library compiled to WebAssembly) and prints one JSON
// object {file: parsed} on stdout; a file that does not parse exits 1 with
// the parser's message.  NODE_PATH must reach tests/conformance/node_modules.
const fs = require('fs');
const { parse } = require('@cdktf/hcl2json');

(async () => {
  const out = {};
  for (const f of process.argv.slice(2)) {
    try {
      out[f] = await parse(f, fs.readFileSync(f, 'utf8'));
    } catch (e) {
      console.error(`${f}: does not parse as HCL: ${e}`);
      process.exit(1);
    }
  }
  process.stdout.write(JSON.stringify(out));
})();
