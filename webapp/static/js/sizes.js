/**
 * Byte sizes as the site writes them everywhere: binary units with their names (KiB, MiB, GiB, TiB), one
 * decimal, rounded half up. The pages (webapp/templating.py `human_size`, through workers/plain.py
 * `human_bytes`) and the progress bars follow the same rule, so a limit reads the same in both places;
 * tests/app/test_sizes.py runs this module and the Python one on the same numbers.
 */

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB']

export function formatBytes (bytes) {
  if (bytes < 1024) return Math.round(bytes) + ' bytes'
  let value = bytes
  for (let unit = 0; unit < UNITS.length; unit++) {
    value /= 1024
    const tenths = Math.floor(value * 10 + 0.5)
    if (tenths < 10240 || unit === UNITS.length - 1) return (tenths / 10).toFixed(1) + ' ' + UNITS[unit]
  }
}
