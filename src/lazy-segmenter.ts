/**
 * `Intl.Segmenter` in the bundle, built on first use. yargs's help layout (cliui and
 * string-width) builds three at import, about 15 ms of every start of the CLI, and only the
 * help text uses them. The bundler puts this class in place of `Intl.Segmenter`
 * (package.json, `bundle`: --define and --inject); `globalThis.Intl` is the real one.
 */
type Args = ConstructorParameters<typeof Intl.Segmenter>;

export class LazySegmenter {
  #real: Intl.Segmenter | undefined;
  readonly #args: Args;

  constructor(...args: Args) {
    this.#args = args;
  }

  #get(): Intl.Segmenter {
    return (this.#real ??= new globalThis.Intl.Segmenter(...this.#args));
  }

  segment(input: string): Intl.Segments {
    return this.#get().segment(input);
  }

  resolvedOptions(): Intl.ResolvedSegmenterOptions {
    return this.#get().resolvedOptions();
  }
}
