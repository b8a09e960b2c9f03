import type Database from 'better-sqlite3';

/** Rows per INSERT statement: one statement a row costs about 1 µs more a row. */
const ROWS_PER_STATEMENT = 100;

/**
 * Appends rows to `table` through statements of ROWS_PER_STATEMENT rows each: `add` queues a
 * row's values (in `columns` order), `flush` writes what is queued. The caller holds the
 * transaction.
 */
export function bulkInsert(db: Database.Database, table: string, columns: string[]) {
  const width = columns.length;
  const statement = (rows: number) =>
    db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array<string>(rows).fill(`(${columns.map(() => '?').join(', ')})`).join(', ')}`);
  const many = statement(ROWS_PER_STATEMENT);
  const one = statement(1);
  let values: unknown[] = [];
  return {
    add(...row: unknown[]): void {
      for (const v of row) values.push(v);
      if (values.length === width * ROWS_PER_STATEMENT) {
        many.run(values);
        values = [];
      }
    },
    flush(): void {
      for (let i = 0; i < values.length; i += width) one.run(values.slice(i, i + width));
      values = [];
    },
  };
}
