import { ConcurrencyLimit } from '../../../lambda/shared/concurrency-limit';

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('never more than max at once, and every task runs, in the order they asked', async () => {
  const limit = new ConcurrencyLimit(3);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const releases: Array<() => void> = [];
  const tasks = Array.from({ length: 10 }, (_, index) =>
    limit.run(async () => {
      started.push(index);
      peak = Math.max(peak, ++running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
      return index;
    }),
  );
  await tick();
  expect(started).toEqual([0, 1, 2]);
  // A newcomer arriving as a slot frees must queue behind those already waiting.
  releases.shift()!();
  const late = limit.run(async () => 'late');
  await tick();
  expect(started).toEqual([0, 1, 2, 3]);
  while (releases.length > 0 || started.length < 10) {
    releases.shift()?.();
    await tick();
  }
  expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(await late).toBe('late');
  expect(peak).toBe(3);
});

test('a failing task frees its slot', async () => {
  const limit = new ConcurrencyLimit(1);
  await expect(limit.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  await expect(limit.run(async () => 'next')).resolves.toBe('next');
});

test('a limit below 1 is refused', () => {
  expect(() => new ConcurrencyLimit(0)).toThrow(/positive integer/);
});
