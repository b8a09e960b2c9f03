import { stringify } from 'csv-stringify/sync';

/** Columns of the errors file: itself a valid `--input` for a rerun of just those users. */
export const ERRORS_HEADER = ['user_id', 'device_id', 'line', 'reason', 'http_status', 'attempts'] as const;

export interface ErrorRecord {
  user_id: string;
  device_id: string;
  line: number;
  reason: string;
  httpStatus?: number | null;
  attempts?: number;
}

export const errorsHeader = (): string => stringify([ERRORS_HEADER as unknown as string[]]);

export function formatError(e: ErrorRecord): string {
  return stringify([[e.user_id, e.device_id, String(e.line), e.reason, e.httpStatus == null ? '' : String(e.httpStatus), e.attempts === undefined ? '0' : String(e.attempts)]]);
}
