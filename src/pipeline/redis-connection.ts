import Bottleneck from 'bottleneck';

type ScriptCallback = (err: Error | null, replies?: unknown) => void;
type ConnectionClass = new (options: object) => {
  __scriptArgs__(name: string, id: string, args: unknown[], cb: ScriptCallback): unknown[];
};

/**
 * Bottleneck 2.19.5 re-creates its settings after Redis lost them (a restart without
 * persistence) only when a script fails with the exact message `SETTINGS_KEY_NOT_FOUND`
 * (RedisDatastore.runScript). Redis 7 prefixes script errors with `ERR `, so the recovery never
 * ran and every process died at the restart (measured: exit 1 on "ERR SETTINGS_KEY_NOT_FOUND").
 * This connection strips the prefix from script errors so Bottleneck's own recovery works.
 */
export class Redis7Connection extends (Bottleneck.IORedisConnection as unknown as ConnectionClass) {
  override __scriptArgs__(name: string, id: string, args: unknown[], cb: ScriptCallback): unknown[] {
    return super.__scriptArgs__(name, id, args, (err, replies) => {
      if (err && err.message.startsWith('ERR ')) err.message = err.message.slice(4);
      cb(err, replies);
    });
  }
}
