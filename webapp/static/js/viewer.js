/**
 * Interactive brain-map viewer (NiiVue) for every `.nv-viewer` section on the page.
 *
 * Load as an ES module, no inline script (the Content-Security-Policy forbids them):
 *
 *   <script type="module" src="{{ url_for('static', filename='js/viewer.js') }}"></script>
 *
 * It imports NiiVue from ../vendor/niivue/niivue.min.js (same static folder), so nothing else
 * needs a script tag. Everything is configured through data-attributes:
 *
 *   <section class="nv-viewer"
 *            data-image-url="/images/12/file"            required: the map (served as application/gzip is fine)
 *            data-image-name="x.nii.gz"                  required: NiiVue detects the format from this name
 *            data-template-url="/template/mni152.nii.gz" optional: background volume (none: the map alone, in gray)
 *            data-template-name="mni152.nii.gz"          optional: defaults to the last segment of the template URL
 *            data-volumes="1"                            optional: number of volumes (> 1 adds a volume slider)
 *            data-frames="1"                             optional: volumes inside data-image-url (the rest on demand)
 *            data-volume-url="/images/12/volumes/{volume}.nii.gz"  optional: where volume k is fetched ({volume} = k)
 *            data-signed="true"                          optional: "true" also shows negative values
 *            data-min="-4.2" data-max="6.1"              optional: the map's range (defaults: read from the data)
 *            data-threshold="2.3"                        optional: initial threshold (default: a quarter of max |value|)
 *            data-colormap="warm"                        optional: initial colour map (default warm)
 *            data-view="multiplanar"                     optional: multiplanar | axial | coronal | sagittal | render
 *            data-slices-url="/images/12/slices.png">    optional: input.slice-link-url gets the link to the slice
 *                                                        at the crosshair (button.copy-slice-link copies it)
 *     <canvas class="nv-canvas" aria-label="Interactive viewer"></canvas>
 *     <div class="nv-controls"></div>
 *     <output class="nv-location" aria-live="polite"></output>
 *   </section>
 *
 * `.nv-controls` may be empty or absent: the viewer adds whichever of these it does not find in the
 * section, each inside a <label> with a `.nv-control` class:
 *   input[type=range].nv-threshold, select.nv-colormap, select.nv-view, and when data-volumes > 1
 *   input[type=range].nv-volume (0-based volume index); the current threshold/volume is written to
 *   output.nv-threshold-value / output.nv-volume-value next to the slider.
 * The canvas is moved into a div.nv-canvas-box that viewer.js creates (NiiVue paints the canvas's
 * parent black and sizes the canvas from it). The canvas fills the box's width; its height is the
 * canvas's height attribute in CSS pixels (default 480) unless the stylesheet gives .nv-canvas-box
 * a height.
 *
 * A large series is never downloaded whole: the page's file holds its first volumes (the worker's
 * copy within a byte budget), and moving the slider past them fetches that one volume and draws it in
 * place of the series (NiiVue loads whole files only, so partial 4D loading is done here).
 *
 * State for tests and the page:
 *   section[data-ready="true"]  both volumes loaded and drawn; window.neurodropViewer = {nv, ready: true}
 *   section[data-shown-volume]  the 0-based volume drawn now (set once it is drawn)
 *                               (the last viewer to get ready; section.neurodropViewer holds each one's own)
 *   section[data-error="..."]   loading failed; the message is also shown in output.nv-location
 *   output.nv-location          "x, y, z mm = value" of the map under the crosshair
 *
 * Rows of a cluster table on the page (`tr.cluster-row[data-mm="x,y,z"]`, images/_clusters.html) move the
 * crosshair to their MNI coordinates (mm) when clicked; the row gets the class `current`.
 */
import { Niivue, NVImage, SLICE_TYPE } from '../vendor/niivue/niivue.min.js'

const COLORMAPS = ['warm', 'hot', 'red', 'cool', 'winter', 'blue', 'green', 'viridis', 'plasma', 'inferno', 'magma', 'jet', 'gray']
const NEGATIVE_COLORMAP = { warm: 'winter', hot: 'winter', red: 'blue', cool: 'warm', winter: 'warm', blue: 'red' }
const VIEWS = [
  ['multiplanar', 'Multiplanar', SLICE_TYPE.MULTIPLANAR],
  ['axial', 'Axial', SLICE_TYPE.AXIAL],
  ['coronal', 'Coronal', SLICE_TYPE.CORONAL],
  ['sagittal', 'Sagittal', SLICE_TYPE.SAGITTAL],
  ['render', '3D render', SLICE_TYPE.RENDER]
]
const SLIDER_STEPS = 200
// Without data-threshold, hide the weakest quarter of the range: most maps are non-zero across the
// whole brain, and a threshold of 0 paints every voxel.
const DEFAULT_THRESHOLD_FRACTION = 0.25

function numberAttr (el, name, fallback) {
  const value = parseFloat(el.dataset[name])
  return Number.isFinite(value) ? value : fallback
}

function fileNameOf (url) {
  return decodeURIComponent(new URL(url, document.baseURI).pathname.split('/').pop() || '')
}

function negativeColormapFor (colormap, available) {
  const name = NEGATIVE_COLORMAP[colormap] || 'winter'
  return available.includes(name) ? name : 'winter'
}

/** Display precision that keeps about four significant digits for the map's range. */
function decimalsFor (range) {
  if (!(range > 0)) return 2
  return Math.min(6, Math.max(0, 3 - Math.floor(Math.log10(range))))
}

/** Min and max over every volume of the map: NiiVue's global_min/max only cover the first one. */
function rangeOf (image) {
  const slope = image.hdr.scl_slope || 1
  const inter = image.hdr.scl_inter || 0
  let min = Infinity
  let max = -Infinity
  for (const raw of image.img) {
    if (raw < min) min = raw
    if (raw > max) max = raw
  }
  if (!Number.isFinite(min)) return [image.global_min, image.global_max]
  const ends = [min * slope + inter, max * slope + inter]
  return [Math.min(...ends), Math.max(...ends)]
}

function readSettings (section) {
  const template = section.dataset.templateUrl || ''
  return {
    imageUrl: section.dataset.imageUrl,
    imageName: section.dataset.imageName || fileNameOf(section.dataset.imageUrl || ''),
    templateUrl: template,
    templateName: section.dataset.templateName || (template ? fileNameOf(template) : ''),
    volumes: Math.max(1, Math.round(numberAttr(section, 'volumes', 1))),
    frames: Math.max(1, Math.round(numberAttr(section, 'frames', 1))),
    volumeUrl: section.dataset.volumeUrl || '',
    signed: section.dataset.signed === 'true',
    min: numberAttr(section, 'min', NaN),
    max: numberAttr(section, 'max', NaN),
    threshold: numberAttr(section, 'threshold', NaN),
    colormap: section.dataset.colormap || 'warm',
    view: section.dataset.view || 'multiplanar'
  }
}

function labelled (text, control, valueOutput) {
  const label = document.createElement('label')
  label.className = 'nv-control'
  const caption = document.createElement('span')
  caption.textContent = text
  label.append(caption, control)
  if (valueOutput) label.append(valueOutput)
  return label
}

function ensureRange (container, section, className, caption) {
  let input = section.querySelector('input.' + className)
  let output = section.querySelector('output.' + className + '-value')
  if (!input) {
    input = document.createElement('input')
    input.type = 'range'
    input.className = className
    output = document.createElement('output')
    output.className = className + '-value'
    container.append(labelled(caption, input, output))
  }
  return { input, output }
}

function ensureSelect (container, section, className, caption, options) {
  let select = section.querySelector('select.' + className)
  if (!select) {
    select = document.createElement('select')
    select.className = className
    container.append(labelled(caption, select))
  }
  if (select.options.length === 0) {
    for (const [value, text] of options) select.add(new Option(text, value))
  }
  return select
}

function ensureControlsContainer (section, canvas) {
  let container = section.querySelector('.nv-controls')
  if (!container) {
    container = document.createElement('div')
    container.className = 'nv-controls'
    canvas.parentElement.after(container)
  }
  return container
}

function ensureOutput (section) {
  let output = section.querySelector('output.nv-location')
  if (!output) {
    output = document.createElement('output')
    output.className = 'nv-location'
    output.setAttribute('aria-live', 'polite')
    section.append(output)
  }
  return output
}

/**
 * NiiVue sizes the canvas from its parent and paints that parent black, so the canvas gets a
 * wrapper of its own (div.nv-canvas-box) and the section keeps the page's styles.
 */
function ensureCanvas (section) {
  let canvas = section.querySelector('canvas.nv-canvas')
  if (!canvas) {
    canvas = document.createElement('canvas')
    canvas.className = 'nv-canvas'
    canvas.setAttribute('aria-label', 'Interactive viewer')
    section.prepend(canvas)
  }
  if (!canvas.hasAttribute('width') || !canvas.hasAttribute('height')) {
    canvas.width = 640
    canvas.height = 480
  }
  if (!canvas.parentElement.classList.contains('nv-canvas-box')) {
    const box = document.createElement('div')
    box.className = 'nv-canvas-box'
    canvas.replaceWith(box)
    box.append(canvas)
  }
  return canvas
}

function volumeList (settings) {
  const map = { url: settings.imageUrl, name: settings.imageName }
  if (!settings.templateUrl) return [{ ...map, colormap: 'gray' }]
  return [
    { url: settings.templateUrl, name: settings.templateName, colormap: 'gray', colorbarVisible: false },
    { ...map, colormap: settings.colormap, opacity: 1 }
  ]
}

function formatLocation (data, mapIndex, decimals) {
  const mm = Array.from(data.mm).slice(0, 3).map((v) => v.toFixed(1)).join(', ')
  const entry = data.values && data.values[mapIndex]
  const value = entry && Number.isFinite(entry.value) ? entry.value.toFixed(decimals).replace(/^-(0\.?0*)$/, '$1') : 'n/a'
  return `${mm} mm = ${value}`
}

const AXIS_OF_VIEW = { sagittal: 'x', coronal: 'y' }

/** The on-demand slice under the crosshair: the axis of the current view (axial for the others), mm rounded. */
function sliceLink (section, mm, view) {
  const axis = AXIS_OF_VIEW[view] || 'z'
  const position = Number(mm[{ x: 0, y: 1, z: 2 }[axis]])
  const url = new URL(section.dataset.slicesUrl, document.baseURI)
  url.searchParams.set('axis', axis)
  url.searchParams.set('mm', position.toFixed(1))
  return url.href
}

function setUpSliceLink (section) {
  const input = section.querySelector('input.slice-link-url')
  const button = section.querySelector('button.copy-slice-link')
  if (!input || !button) return null
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(input.value)
      button.textContent = 'Copied'
    } catch {
      input.select()
      button.textContent = 'Press Ctrl+C to copy'
    }
  })
  return input
}

function fail (section, output, error) {
  const message = (error && error.message) || String(error) || 'unknown error'
  section.dataset.error = message
  section.removeAttribute('data-ready')
  output.textContent = `The viewer could not load this image: ${message}`
}

async function setUpViewer (section) {
  const settings = readSettings(section)
  const canvas = ensureCanvas(section)
  const output = ensureOutput(section)
  const controls = ensureControlsContainer(section, canvas)
  section.setAttribute('aria-busy', 'true')
  output.textContent = 'Loading…'

  if (!settings.imageUrl) throw new Error('no data-image-url on the viewer')
  if (!document.createElement('canvas').getContext('webgl2')) {
    throw new Error('this browser does not support WebGL2')
  }

  const nv = new Niivue({
    show3Dcrosshair: true,
    crosshairColor: [0.1, 0.9, 0.1, 1],
    isColorbar: true,
    dragAndDropEnabled: false,
    logLevel: 'warn',
    loadingText: 'loading ...'
  })
  await nv.attachToCanvas(canvas)
  await nv.loadVolumes(volumeList(settings))

  const expected = settings.templateUrl ? 2 : 1
  if (nv.volumes.length !== expected) throw new Error('NiiVue did not load every volume')
  const map = nv.volumes[expected - 1]
  // The image drawn now: the series (map) or one volume fetched on demand in its place.
  let shown = map

  const known = Number.isFinite(settings.min) && Number.isFinite(settings.max)
  const [dataMin, dataMax] = known ? [settings.min, settings.max] : rangeOf(map)
  const signed = settings.signed && dataMin < 0
  const top = Math.max(Math.abs(dataMax), signed ? Math.abs(dataMin) : 0) || 1
  const decimals = decimalsFor(top)
  const available = nv.colormaps()

  // Setting a colour map makes NiiVue recompute cal_min/cal_max, so the threshold is re-applied after it.
  const applyDisplay = () => {
    if (shown.colormap !== colormapSelect.value) shown.colormap = colormapSelect.value
    shown.colormapNegative = signed ? negativeColormapFor(colormapSelect.value, available) : ''
    shown.cal_min = Number(threshold.input.value)
    shown.cal_max = top
    shown.cal_minNeg = NaN
    shown.cal_maxNeg = NaN
    nv.updateGLVolume()
  }

  // Threshold: 0 .. the largest absolute value of the map.
  const threshold = ensureRange(controls, section, 'nv-threshold', 'Threshold')
  threshold.input.min = '0'
  threshold.input.max = String(top)
  threshold.input.step = String(top / SLIDER_STEPS)
  const initial = Number.isFinite(settings.threshold) ? settings.threshold : top * DEFAULT_THRESHOLD_FRACTION
  threshold.input.value = String(Math.min(Math.max(initial, 0), top))
  const showThreshold = () => {
    if (threshold.output) threshold.output.textContent = Number(threshold.input.value).toFixed(decimals)
  }
  threshold.input.addEventListener('input', () => {
    applyDisplay()
    showThreshold()
  })

  const colormaps = COLORMAPS.filter((name) => available.includes(name))
  const colormapSelect = ensureSelect(controls, section, 'nv-colormap', 'Colour map', colormaps.map((name) => [name, name]))
  colormapSelect.value = available.includes(settings.colormap) ? settings.colormap : 'warm'
  colormapSelect.addEventListener('change', applyDisplay)

  const viewSelect = ensureSelect(controls, section, 'nv-view', 'View', VIEWS.map(([value, text]) => [value, text]))
  const sliceTypeOf = (value) => (VIEWS.find(([name]) => name === value) || VIEWS[0])[2]
  viewSelect.value = VIEWS.some(([name]) => name === settings.view) ? settings.view : 'multiplanar'
  viewSelect.addEventListener('change', () => nv.setSliceType(sliceTypeOf(viewSelect.value)))

  const loaded = map.nFrame4D || 1
  const frames = Math.max(settings.volumes, loaded)
  let ticket = 0
  // Volume k: a frame of the loaded series, or fetched alone (only that volume's bytes) and drawn in its place.
  const drawVolume = async (k) => {
    const mine = ++ticket
    let next = map
    if (k < loaded) {
      nv.setFrame4D(map.id, k)
    } else if (settings.volumeUrl) {
      const url = settings.volumeUrl.replace('{volume}', String(k))
      next = await NVImage.loadFromUrl({ url, name: fileNameOf(url) })
      if (mine !== ticket) return
    } else {
      return
    }
    if (next !== shown) {
      if (shown !== map) nv.removeVolume(shown)
      if (next !== map) nv.addVolume(next)
      map.opacity = next === map ? 1 : 0
      shown = next
    }
    applyDisplay()
    section.dataset.shownVolume = String(k)
  }
  if (loaded > 1 || (frames > 1 && settings.volumeUrl)) {
    const volume = ensureRange(controls, section, 'nv-volume', 'Volume')
    volume.input.min = '0'
    volume.input.max = String((settings.volumeUrl ? frames : loaded) - 1)
    volume.input.step = '1'
    volume.input.value = '0'
    const showVolume = () => {
      if (volume.output) volume.output.textContent = `${Number(volume.input.value) + 1} / ${frames}`
    }
    volume.input.addEventListener('input', () => {
      showVolume()
      drawVolume(Number(volume.input.value)).catch((error) => fail(section, output, error))
    })
    showVolume()
  }

  const linkInput = section.dataset.slicesUrl ? setUpSliceLink(section) : null
  nv.onLocationChange = (data) => {
    output.textContent = formatLocation(data, nv.volumes.indexOf(shown), decimals)
    if (linkInput) linkInput.value = sliceLink(section, Array.from(data.mm), viewSelect.value)
  }

  applyDisplay()
  showThreshold()
  nv.setSliceType(sliceTypeOf(viewSelect.value))
  nv.createOnLocationChange()

  section.dataset.shownVolume = '0'
  section.neurodropViewer = { nv, ready: true }
  window.neurodropViewer = section.neurodropViewer
  section.removeAttribute('aria-busy')
  section.dataset.ready = 'true'
  return nv
}

function moveCrosshairTo (nv, mm) {
  nv.scene.crosshairPos = nv.mm2frac(mm)
  nv.drawScene()
  nv.createOnLocationChange()
}

// A cluster table row moves the crosshair of the viewer on the page to the row's peak.
function followClusterRows (nv) {
  const rows = document.querySelectorAll('tr.cluster-row[data-mm]')
  for (const row of rows) {
    row.addEventListener('click', () => {
      const mm = row.dataset.mm.split(',').map(Number)
      if (mm.length !== 3 || !mm.every(Number.isFinite)) return
      for (const other of rows) other.classList.toggle('current', other === row)
      moveCrosshairTo(nv, mm)
    })
  }
}

function start () {
  for (const section of document.querySelectorAll('.nv-viewer')) {
    if (section.dataset.ready || section.dataset.started) continue
    section.dataset.started = 'true'
    setUpViewer(section).then(followClusterRows).catch((error) => {
      section.removeAttribute('aria-busy')
      fail(section, ensureOutput(section), error)
    })
  }
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start)
} else {
  start()
}
