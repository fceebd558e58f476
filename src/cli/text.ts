import type { ObservationDocument } from "../proc/observation-types.js";

/** A short human-readable rendering of an observation document. */
export function formatObservationText(doc: ObservationDocument): string {
  const out: string[] = [`scenario ${doc.scenario}`];
  for (const o of doc.observations) {
    out.push(`\n== step ${o.step}: ${o.label}`);
    for (const [proc, rec] of Object.entries(o.procs)) {
      out.push(`-- ${proc}`);
      for (const s of rec.smaps ?? []) {
        out.push(
          `${s.start}-${s.end} ${s.perms} ${s.name}  Rss ${s.fields.Rss} kB  [${s.VmFlags.join(" ")}]`,
        );
      }
      for (const r of rec.pagemap ?? []) {
        const id =
          r.pfn !== undefined ? ` pfn#${r.pfn}` : r.swap !== undefined ? ` swap#${r.swap}` : "";
        out.push(`  ${r.start} x${r.pages} ${r.flags.join(",") || "-"}${id}`);
      }
    }
  }
  for (const e of doc.errors) out.push(`error: step ${e.step} ${e.op} -> ${e.errno}`);
  for (const e of doc.uffd_events)
    out.push(`uffd: step ${e.step} ${e.addr} [${e.flags.join(",")}]`);
  return `${out.join("\n")}\n`;
}
