/**
 * S3 dates are whole seconds: a lease is stale only when it was last written more than its
 * lease time plus this ago, so that rounding never hands a live run's lease to another.
 */
export const DATE_GRAIN_MS = 1000;

/**
 * How long ago a lease object was last written, on S3's own clock (its Last-Modified against the
 * Date of the answer that read it): the clocks of the two hosts never enter, so a host whose
 * clock was stepped (NTP, a VM restore) neither steals a live lease nor keeps a dead one.
 * Without a Date header (some S3-compatible stores), this host's clock stands in.
 */
export function leaseAgeMs(lastModified: Date | undefined, serverNow: Date | undefined, localNow: Date): number {
  if (!lastModified) return Number.POSITIVE_INFINITY;
  return Math.max(0, (serverNow ?? localNow).getTime() - lastModified.getTime());
}

export const isStale = (ageMs: number, leaseSeconds: number): boolean => ageMs > leaseSeconds * 1000 + DATE_GRAIN_MS;

/** The holder renews four times per lease: three renewals in a row may fail before it is at risk. */
export const renewEveryMs = (leaseSeconds: number): number => Math.max(100, Math.floor((leaseSeconds * 1000) / 4));
