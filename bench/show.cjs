// Print a `npm run bench -- --json` result file as a tab table: node bench/show.cjs FILE
const fs = require("node:fs");
const t = fs.readFileSync(process.argv[2], "utf8");
const j = JSON.parse(t.slice(t.indexOf("{")));
console.log(JSON.stringify(j.builds), j.totalSeconds, j.anchor.ok ? "" : j.anchor.message);
for (const r of j.rows)
  console.log(
    [
      r.layout,
      r.job,
      r.gen,
      r.ms,
      (r.pagesPerSec / 1e6).toFixed(1),
      r.vsMainline ?? "",
      r.kernelRatio ?? "",
    ].join("\t"),
  );
