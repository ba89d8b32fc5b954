/** Run a command's `main` in-process with stdout and stderr captured (shared by the CLI tests). */
export async function captured<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string) => (
    out.push(String(c)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => (
    err.push(String(c)),
    true
  )) as typeof process.stderr.write;
  try {
    return { value: await fn(), out: out.join(""), err: err.join("") };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}
