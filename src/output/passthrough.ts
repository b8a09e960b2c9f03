import { inputError } from '../errors.js';
import type { UserRow } from '../sources/csv.js';
import type { PassColumn } from './options.js';

/**
 * Input columns carried into the output (`--passthrough`), found by header name once the
 * header is read: a column the input does not have stops the job before any request (exit 2).
 * Cells are copied verbatim; a short row gives empty cells. A name the header holds twice
 * takes the first, as the id columns do.
 */
export class Passthrough {
  readonly headers: string[];
  private readonly at: number[];

  constructor(columns: PassColumn[], header: string[], inputName: string) {
    const missing = columns.filter((c) => !header.includes(c.from)).map((c) => c.from);
    if (missing.length > 0) {
      const shown = `${header.slice(0, 8).join(',')}${header.length > 8 ? ',…' : ''}`;
      throw inputError(`${inputName}: --passthrough ${missing.join(',')}: no such column in the header (${shown})`);
    }
    this.headers = columns.map((c) => c.as);
    this.at = columns.map((c) => header.indexOf(c.from));
  }

  get size(): number {
    return this.at.length;
  }

  cells(row: UserRow): string[] {
    return this.at.map((i) => row.fields[i] ?? '');
  }
}
