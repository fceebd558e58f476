/**
 * Locks as objects. The simulation is single-threaded, so a lock records
 * who holds it and lets code assert the locking rules the kernel relies on
 * (lockdep_assert_held and friends); a violation throws naming the lock.
 */
export class LockError extends Error {}

export class SpinLock {
  holder: string | null = null;

  constructor(readonly name: string) {}

  lock(who: string): void {
    if (this.holder !== null) {
      throw new LockError(`${who}: ${this.name} already held by ${this.holder} (deadlock)`);
    }
    this.holder = who;
  }

  unlock(): void {
    if (this.holder === null) throw new LockError(`${this.name} unlocked while not held`);
    this.holder = null;
  }

  get held(): boolean {
    return this.holder !== null;
  }

  assertHeld(who: string, what: string): void {
    if (this.holder === null) {
      throw new LockError(`${who}: ${what} without holding ${this.name}`);
    }
  }
}

/** A reader/writer lock (mmap_lock, i_mmap_rwsem, the hugetlb VMA lock). */
export class RwLock {
  readers = 0;
  writer: string | null = null;
  /** Bumped at every write unlock (mm->mm_lock_seq for the mmap lock). */
  seq = 0;

  constructor(readonly name: string) {}

  readLock(who: string): void {
    if (this.writer !== null)
      throw new LockError(`${who}: ${this.name} write-held by ${this.writer}`);
    this.readers++;
  }

  readUnlock(): void {
    if (this.readers === 0) throw new LockError(`${this.name} read-unlocked while not read-held`);
    this.readers--;
  }

  writeLock(who: string): void {
    if (this.writer !== null || this.readers > 0) {
      throw new LockError(
        `${who}: ${this.name} is busy (writer ${this.writer}, readers ${this.readers})`,
      );
    }
    this.writer = who;
  }

  writeUnlock(): void {
    if (this.writer === null)
      throw new LockError(`${this.name} write-unlocked while not write-held`);
    this.writer = null;
    this.seq++;
  }

  /** mmap_assert_locked(): read or write. */
  assertLocked(who: string): void {
    if (this.readers === 0 && this.writer === null) {
      throw new LockError(`${who}: ${this.name} is not held`);
    }
  }

  /** mmap_assert_write_locked(). */
  assertWriteLocked(who: string): void {
    if (this.writer === null) throw new LockError(`${who}: ${this.name} is not write-held`);
  }
}
