// The upload's progress, as a whole percentage.
import assert from "node:assert/strict";
import { test } from "node:test";
import { percent } from "../../../../src/barecloud/api/ui/web/lib/upload.js";

test("progress is a whole percentage, never past 100", () => {
  assert.equal(percent(null), 0);
  assert.equal(percent({ loaded: 0, total: 0 }), 0);
  assert.equal(percent({ loaded: 1, total: 3 }), 33);
  assert.equal(percent({ loaded: 4096, total: 4096 }), 100);
  assert.equal(percent({ loaded: 5000, total: 4096 }), 100);
});
