// Seeded PRNG (mulberry32) and helpers: the same seed gives the same data.
module.exports = function random(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)) // inclusive
  const pick = list => list[Math.floor(next() * list.length)]
  const chance = p => next() < p
  // weights: [[value, weight], ...]
  const weighted = pairs => {
    const total = pairs.reduce((s, [, w]) => s + w, 0)
    let r = next() * total
    for (const [v, w] of pairs) if ((r -= w) < 0) return v
    return pairs[pairs.length - 1][0]
  }
  const hex = n => Array.from({ length: n }, () => '0123456789abcdef'[int(0, 15)]).join('')
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[int(0, 3)]}${hex(3)}-${hex(12)}`
  return { next, int, pick, chance, weighted, hex, uuid }
}
