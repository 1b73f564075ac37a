// Prints, as one JSON array on stdout, every change from the document in argv[2] (released) to the one in
// argv[3] (current), as api-smart-diff classifies it: {type, action, path, description}. type is one of
// breaking, non-breaking, deprecated, annotation, unclassified. estate/released.py decides what fails.
import { apiCompare } from "api-smart-diff";
import { readFileSync } from "node:fs";

const [released, current] = process.argv.slice(2, 4).map((file) => JSON.parse(readFileSync(file, "utf8")));
const { diffs } = apiCompare(released, current);
const shown = diffs.map((d) => ({
  type: d.type,
  action: d.action,
  path: d.path.map(String),
  description: d.description ?? null,
}));
process.stdout.write(JSON.stringify(shown));
