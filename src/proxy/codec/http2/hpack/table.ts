// HPACK tables (RFC 7541 §2.3, §4): the static table of Appendix A with the encoder's lookups
// (name+value → index, name → index), and the dynamic table: a ring buffer of entries sized per
// §4.1 (name + value + 32 octets), FIFO eviction (§4.4), resizing (§4.3, §6.3). The encoder's
// table also keeps a NameEntry per name (its entries, value → entry, a memo of its last encoding)
// so that a lookup never allocates.

/** Entry size per RFC 7541 §4.1. */
export const ENTRY_OVERHEAD = 32;

/** RFC 7541 Appendix A, index 1..61 (element 0 is index 1). */
const STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], // 1
  [':method', 'GET'], // 2
  [':method', 'POST'], // 3
  [':path', '/'], // 4
  [':path', '/index.html'], // 5
  [':scheme', 'http'], // 6
  [':scheme', 'https'], // 7
  [':status', '200'], // 8
  [':status', '204'], // 9
  [':status', '206'], // 10
  [':status', '304'], // 11
  [':status', '400'], // 12
  [':status', '404'], // 13
  [':status', '500'], // 14
  ['accept-charset', ''], // 15
  ['accept-encoding', 'gzip, deflate'], // 16
  ['accept-language', ''], // 17
  ['accept-ranges', ''], // 18
  ['accept', ''], // 19
  ['access-control-allow-origin', ''], // 20
  ['age', ''], // 21
  ['allow', ''], // 22
  ['authorization', ''], // 23
  ['cache-control', ''], // 24
  ['content-disposition', ''], // 25
  ['content-encoding', ''], // 26
  ['content-language', ''], // 27
  ['content-length', ''], // 28
  ['content-location', ''], // 29
  ['content-range', ''], // 30
  ['content-type', ''], // 31
  ['cookie', ''], // 32
  ['date', ''], // 33
  ['etag', ''], // 34
  ['expect', ''], // 35
  ['expires', ''], // 36
  ['from', ''], // 37
  ['host', ''], // 38
  ['if-match', ''], // 39
  ['if-modified-since', ''], // 40
  ['if-none-match', ''], // 41
  ['if-range', ''], // 42
  ['if-unmodified-since', ''], // 43
  ['last-modified', ''], // 44
  ['link', ''], // 45
  ['location', ''], // 46
  ['max-forwards', ''], // 47
  ['proxy-authenticate', ''], // 48
  ['proxy-authorization', ''], // 49
  ['range', ''], // 50
  ['referer', ''], // 51
  ['refresh', ''], // 52
  ['retry-after', ''], // 53
  ['server', ''], // 54
  ['set-cookie', ''], // 55
  ['strict-transport-security', ''], // 56
  ['transfer-encoding', ''], // 57
  ['user-agent', ''], // 58
  ['vary', ''], // 59
  ['via', ''], // 60
  ['www-authenticate', ''], // 61
];

export const STATIC_LENGTH = 61;
export const STATIC_NAMES: readonly string[] = STATIC.map((e) => e[0]);
export const STATIC_VALUES: readonly string[] = STATIC.map((e) => e[1]);

/** How the encoder treats a field by its name. */
export const enum IndexPolicy {
  /** Incremental indexing when the entry is not too large. */
  INDEX = 0,
  /** Literal without indexing: values that rarely repeat (nghttp2's list: :path, content-length, etag, ...). */
  NO_INDEX = 1,
  /** Never-indexed literal (§7.1.3): credentials (authorization, proxy-authorization; cookie when short, as nghttp2 does). */
  NEVER = 2,
  /** cookie: NEVER below 20 bytes (guessable), INDEX above. */
  COOKIE = 3,
}

const POLICIES: ReadonlyMap<string, IndexPolicy> = new Map([
  [':path', IndexPolicy.NO_INDEX],
  ['content-length', IndexPolicy.NO_INDEX],
  ['set-cookie', IndexPolicy.NO_INDEX],
  ['etag', IndexPolicy.NO_INDEX],
  ['if-modified-since', IndexPolicy.NO_INDEX],
  ['if-none-match', IndexPolicy.NO_INDEX],
  ['location', IndexPolicy.NO_INDEX],
  ['age', IndexPolicy.NO_INDEX],
  ['authorization', IndexPolicy.NEVER],
  ['proxy-authorization', IndexPolicy.NEVER],
  ['cookie', IndexPolicy.COOKIE],
]);

/** An encoder's view of one static-table name: its lowest index, the indexes of its values, its indexing policy. */
export interface StaticName {
  readonly index: number;
  readonly values: Map<string, number>;
  readonly policy: IndexPolicy;
}

/** name → { lowest index, value → index } over the static table (built once). */
export const STATIC_LOOKUP: ReadonlyMap<string, StaticName> = (() => {
  const m = new Map<string, StaticName>();
  for (let i = 0; i < STATIC.length; i++) {
    const [name, value] = STATIC[i];
    let e = m.get(name);
    if (e === undefined) m.set(name, (e = { index: i + 1, values: new Map(), policy: POLICIES.get(name) ?? IndexPolicy.INDEX }));
    if (!e.values.has(value)) e.values.set(value, i + 1);
  }
  return m;
})();

/** How the encoder represented a name's value last time (NameEntry.lastKind). */
export const enum LastKind {
  NONE = 0,
  /** lastNum: a static-table index. */
  STATIC = 1,
  /** lastNum: the seq of a dynamic-table entry (valid while not evicted). */
  DYNAMIC = 2,
  /** The field's whole literal representation is in `literal[0..lastNum)` (a static name index, no table effect). */
  LITERAL = 3,
}

/**
 * The encoder's state for one header name: its static-table facts, its dynamic-table entries
 * (the newest with the name; per value the newest) and a one-value memo of how it was last
 * encoded, so that a repeated field costs one Map lookup and one string comparison.
 * Static names get an entry when first seen; other names while they have dynamic entries.
 */
export class NameEntry {
  /** Lowest static index with this name, 0 when not in the static table. */
  readonly staticIndex: number;
  readonly staticValues: ReadonlyMap<string, number> | null;
  readonly policy: IndexPolicy;
  /** Seq of the newest dynamic entry with this name, -1 when none. */
  newest = -1;
  /** value → seq of its newest dynamic entry (created at the first insertion). */
  values: Map<string, number> | null = null;
  lastValue: string | null = null;
  lastKind: LastKind = LastKind.NONE;
  lastNum = 0;
  /** The cached literal representation (LastKind.LITERAL), allocated on first use. */
  literal: Buffer | null = null;

  constructor(st: StaticName | undefined) {
    this.staticIndex = st === undefined ? 0 : st.index;
    this.staticValues = st === undefined ? null : st.values;
    this.policy = st === undefined ? IndexPolicy.INDEX : st.policy;
  }
}

/**
 * The dynamic table. Entries are numbered by insertion (`seq`); the newest has HPACK index 62.
 * With `indexed` set (the encoder) it maintains name/value lookups.
 */
export class DynamicTable {
  private names: string[];
  private values: string[];
  private mask: number;
  /** Slot of the next insertion. */
  private head = 0;
  count = 0;
  /** Current size (§4.1). */
  size = 0;
  /** Current maximum size (the last size update). */
  maxSize: number;
  /** Entries inserted so far (the next entry's seq). */
  inserted = 0;
  /** Encoder only: name → NameEntry (null in the decoder). */
  readonly byName: Map<string, NameEntry> | null;

  constructor(maxSize: number, indexed: boolean) {
    this.maxSize = maxSize;
    this.names = new Array<string>(16).fill('');
    this.values = new Array<string>(16).fill('');
    this.mask = 15;
    this.byName = indexed ? new Map() : null;
  }

  /** Name of the entry with dynamic index `i` (0 = newest); `i` must be < count. */
  name(i: number): string {
    return this.names[(this.head - 1 - i) & this.mask];
  }

  value(i: number): string {
    return this.values[(this.head - 1 - i) & this.mask];
  }

  /** Adds an entry (§4.4: evicts first; an entry larger than the table empties it and is not added). Returns its seq, or -1. */
  add(name: string, value: string): number {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.maxSize) {
      while (this.count > 0) this.evict();
      return -1;
    }
    while (this.size + entrySize > this.maxSize) this.evict();
    if (this.count === this.mask + 1) this.grow();
    const slot = this.head;
    this.names[slot] = name;
    this.values[slot] = value;
    this.head = (slot + 1) & this.mask;
    this.count++;
    this.size += entrySize;
    const seq = this.inserted++;
    if (this.byName !== null) {
      let e = this.byName.get(name);
      if (e === undefined) this.byName.set(name, (e = new NameEntry(STATIC_LOOKUP.get(name))));
      e.newest = seq;
      if (e.values === null) e.values = new Map();
      e.values.set(value, seq);
      e.lastValue = value;
      e.lastKind = LastKind.DYNAMIC;
      e.lastNum = seq;
    }
    return seq;
  }

  /** Sets the maximum size (§4.3), evicting what no longer fits. */
  resize(maxSize: number): void {
    this.maxSize = maxSize;
    while (this.size > maxSize) this.evict();
  }

  /** Whether the entry numbered `seq` is still in the table. */
  has(seq: number): boolean {
    return seq >= this.inserted - this.count;
  }

  /** The HPACK index (≥ 62) of the live entry numbered `seq`. */
  indexOf(seq: number): number {
    return STATIC_LENGTH + this.inserted - seq;
  }

  /** The entries, newest first (tests and debugging). */
  entries(): Array<[string, string]> {
    const list: Array<[string, string]> = [];
    for (let i = 0; i < this.count; i++) list.push([this.name(i), this.value(i)]);
    return list;
  }

  private evict(): void {
    const slot = (this.head - this.count) & this.mask;
    const name = this.names[slot];
    const value = this.values[slot];
    this.names[slot] = '';
    this.values[slot] = '';
    this.count--;
    this.size -= name.length + value.length + ENTRY_OVERHEAD;
    if (this.byName !== null) {
      const seq = this.inserted - 1 - this.count;
      const e = this.byName.get(name) as NameEntry;
      if (e.newest === seq) {
        // Its newest entry was the oldest left: no entry with this name remains.
        if (e.staticIndex === 0) this.byName.delete(name);
        else {
          e.newest = -1;
          (e.values as Map<string, number>).clear();
        }
      } else if ((e.values as Map<string, number>).get(value) === seq) {
        (e.values as Map<string, number>).delete(value);
      }
    }
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const names = new Array<string>(cap).fill('');
    const values = new Array<string>(cap).fill('');
    // Oldest first, so that the ring starts at slot 0 and head = count.
    for (let i = 0; i < this.count; i++) {
      const from = (this.head - this.count + i) & this.mask;
      names[i] = this.names[from];
      values[i] = this.values[from];
    }
    this.names = names;
    this.values = values;
    this.mask = cap - 1;
    this.head = this.count;
  }
}
