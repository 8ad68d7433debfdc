// What /ready waits for beyond the server being LIVE: holds placed by start-up work such as the
// xDS client's initial fetch (Envoy's init manager keeps the server out of LIVE until then).

export class ReadinessGate {
  private holds = 0;

  /** Whether no hold is outstanding. */
  get isOpen(): boolean {
    return this.holds === 0;
  }

  /** Keeps /ready at 503 until `until` settles. */
  hold(until: Promise<void>): void {
    this.holds++;
    const release = () => { this.holds--; };
    until.then(release, release);
  }
}
