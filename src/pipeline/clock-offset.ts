/**
 * Maps Redis's clock (TIME, in ms) onto this process's monotonic clock (performance.now()), the
 * way NTP picks its samples: the answer with the shortest round trip bounds the error best
 * (at most half of it), so it is kept until a shorter one comes. A busy process reads an answer
 * tens of milliseconds after Redis sent it (measured: 30-35 ms under load), and taking every
 * answer's midpoint would move the process's starts by half of that, differently in every
 * process sharing the schedule.
 * A sample that the kept offset cannot explain (their error bounds do not overlap) means a
 * clock moved, Redis's wall clock stepped: the new sample replaces the kept one.
 */
export class ClockOffset {
  private offset = 0;
  private rtt = Infinity;

  /** One answer: sent and received on the local clock, `remoteNow` read by Redis in between. */
  sample(sentAt: number, receivedAt: number, remoteNow: number): void {
    const rtt = Math.max(0, receivedAt - sentAt);
    const offset = (sentAt + receivedAt) / 2 - remoteNow;
    const consistent = Math.abs(offset - this.offset) <= (rtt + this.rtt) / 2;
    if (rtt <= this.rtt || !consistent) {
      this.offset = offset;
      this.rtt = rtt;
    }
  }

  /** A Redis time on the local clock. */
  toLocal(remoteMs: number): number {
    return remoteMs + this.offset;
  }
}
