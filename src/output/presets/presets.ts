/**
 * What each email tool's CSV import accepts, from its own documentation (read 2025; the pages
 * are cited beside each rule). A preset decides the identifier column, how dates are written,
 * and the default file limit; everything else about the layout is shared (see wide.ts).
 *
 * Shared by all four tools, and why a preset writes one row per user: each imports a CSV as
 * user-profile updates keyed by the identifier, so two rows for one user (the default layout's
 * one row per rec_id) would overwrite each other. Each rec becomes its own columns instead.
 */

export const PRESETS = ['braze', 'iterable', 'klaviyo', 'sfmc'] as const;
export type PresetName = (typeof PRESETS)[number];

/** What identifies a user in a preset's file: the input's user_id, or its email column. */
export type PresetKey = 'user_id' | 'email';

export interface Preset {
  name: PresetName;
  /** The identifier column's header for each key the tool can import by; the first is the default. */
  keys: Partial<Record<PresetKey, string>>;
  defaultKey: PresetKey;
  /** `last_updated` (epoch seconds, UTC) as the tool reads a date. */
  date: (epochSeconds: number) => string;
  /** The tool's documented limit per file; the default of --split-rows / --split-bytes. */
  limit: { rows?: number; bytes?: number };
}

/** `2024-06-10T06:13:20Z`: ISO 8601 in UTC, seconds (the API's precision). */
const isoZ = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');
/** `2024-06-10 06:13:20` (UTC). */
const spaced = (s: number) => isoZ(s).replace('T', ' ').replace('Z', '');

export const PRESET: Record<PresetName, Preset> = {
  /**
   * Braze, "CSV import" (https://www.braze.com/docs/user_guide/data/unification/user_data/import_users/csv/):
   * users are identified by `external_id` (or by user alias, and one CSV cannot mix the two);
   * attribute files up to 500 MB; "Blank values in your CSV won't overwrite existing user
   * profile data". The older "User Import" page (…/user_data_collection/user_import/) lists the
   * value types a CSV can carry: datetime "stored in the ISO 8601 format", boolean, number,
   * string, blank; no arrays or objects.
   */
  braze: { name: 'braze', keys: { user_id: 'external_id' }, defaultKey: 'user_id', date: isoZ, limit: { bytes: 500_000_000 } },
  /**
   * Iterable, "Importing User Lists" (https://support.iterable.com/hc/en-us/articles/115000770906):
   * a unique identifier field, `email` or `userId` depending on the project type; "A single CSV
   * file may include up to two million rows of user data"; dates "YYYY-MM-DD HH:MM:SS or
   * YYYY-MM-DD". "CSV List Import Best Practices" (…/articles/205694345): a CSV creates only
   * string, date and boolean fields; "Arrays and objects cannot be created or edited via CSV".
   */
  iterable: { name: 'iterable', keys: { user_id: 'userId', email: 'email' }, defaultKey: 'user_id', date: spaced, limit: { rows: 2_000_000 } },
  /**
   * Klaviyo, "Create and add contacts to a new list" (https://help.klaviyo.com/hc/en-us/articles/115005078967):
   * at most 50 MB a file ("Larger uploads must be split into multiple CSV files"), and the first
   * column's header is "Email Address" (or "Phone Number"; "How to upload and segment with
   * consent", …/360043841811, also takes "Email"). "Troubleshooting list imports" (…/115005078807):
   * every row has an email address, no duplicate addresses. "Acceptable date and timestamp
   * formats" (…/115005253428) lists `2014-09-30 13:34:08+00:00`; booleans are `true`/`false`
   * (…/8557592023451). 50 MB is read as 50,000,000 bytes, the smaller reading.
   */
  klaviyo: { name: 'klaviyo', keys: { email: 'Email Address' }, defaultKey: 'email', date: (s) => `${spaced(s)}+00:00`, limit: { bytes: 50_000_000 } },
  /**
   * Salesforce Marketing Cloud, "Import Activity" and "Import File Requirements"
   * (https://help.salesforce.com/s/articleView?id=mktg.mc_es_import_activity.htm,
   * …?id=mktg.mc_es_import_file_requirements.htm): comma-delimited CSV with a header row that
   * maps to fields by name; a data extension keyed by its primary key (here `SubscriberKey`),
   * with an option to keep the last of duplicate keys; field values of the field's type (text,
   * date, number, boolean). No per-file limit is documented, so none is applied. Dates carry
   * their zone (`Z`): Marketing Cloud's servers run on US Central time and read a date without
   * one as such (Cameron Robert, "Date formats in Marketing Cloud", a practitioner's note, not
   * Salesforce's documentation).
   */
  sfmc: { name: 'sfmc', keys: { user_id: 'SubscriberKey', email: 'SubscriberKey' }, defaultKey: 'user_id', date: isoZ, limit: {} },
};

/** `email-weekly` -> `email_weekly`: a column name every tool accepts (letters, digits, `_`). */
export const columnPart = (id: string): string => id.replace(/[^A-Za-z0-9_]/g, '_');
