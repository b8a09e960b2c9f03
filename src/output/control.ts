import type { Recommendation } from '../api/types.js';
import type { ControlMode } from './options.js';

/**
 * A recommendation as `--control` shows it: control-group items are random (the API's
 * experiment baseline), so the email should show its own baseline instead.
 * - keep: as the API answered (README, "Output": control users keep their items, `is_control` says so);
 * - blank: the items go, the rec stays (its `is_control`, source and date are still written);
 * - drop: null, the rec is left out (the caller decides what that means for its row).
 * Decided per recommendation: a user can be in the control group of one rec and not another.
 */
export function underControl(rec: Recommendation, mode: ControlMode): Recommendation | null {
  if (rec.is_control !== true || mode === 'keep') return rec;
  return mode === 'blank' ? { ...rec, items: [] } : null;
}
