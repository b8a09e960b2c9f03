/** The part of fs-native-extensions 1.5.1 used here (it ships no types). */
declare module 'fs-native-extensions' {
  /** An exclusive (or shared) lock on an open file; false when another open file holds it. */
  export function tryLock(fd: number, options?: { shared?: boolean }): boolean;
  const fsx: { tryLock: typeof tryLock };
  export default fsx;
}
