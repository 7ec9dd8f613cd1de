/**
 * Upload page: drag and drop, one progress bar per file, pause/resume, uploads that survive a reload.
 *
 * An ES module, loaded after tus's classic script (the global `tus`), no inline script (the CSP forbids them):
 *
 *   <script src="{{ url_for('static', filename='vendor/tus/tus.min.js') }}" defer></script>
 *   <script type="module" src="{{ url_for('static', filename='js/upload.js') }}"></script>
 *
 * Progressive enhancement of this form (without JavaScript it is submitted as it is):
 *
 *   <form class="upload-form" method="post" enctype="multipart/form-data" action="/collections/5/upload"
 *         data-tus-endpoint="/api/uploads/"   optional: absent (or no `tus` global) -> multipart XHR to action
 *         data-collection-id="5" data-csrf-token="...">
 *     <input type="hidden" name="csrf_token" value="...">
 *     <div class="dropzone" tabindex="0">Drop .nii / .nii.gz files here or
 *       <label>choose files <input type="file" name="file" multiple accept=".nii,.gz,.nii.gz"></label></div>
 *     <ul class="upload-list" aria-live="polite"></ul>
 *     <button type="submit">Upload</button>
 *   </form>
 *
 * Files start uploading as soon as they are dropped or picked (at most MAX_PARALLEL at a time);
 * the submit button then only starts whatever is still waiting. Each file gets:
 *
 *   <li class="upload-item" data-state="queued|uploading|paused|done|error">
 *     <span class="upload-name">x.nii.gz</span>
 *     <progress class="upload-progress" max="100" value="42"></progress>
 *     <span class="upload-status">42% · 3.1 MiB/s · 12 s left</span>
 *     <button type="button" class="upload-pause">Pause</button>
 *     <button type="button" class="upload-resume" hidden>Resume</button>
 *     <a class="upload-link" href="/images/42">View image</a>          (once done, if the server named it)
 *   </li>
 *
 * tus: the response to the last PATCH carries X-Image-Url / X-Image-Id (else a HEAD on the upload
 * URL is asked for them). Fingerprints are kept in localStorage, so picking the same file again
 * after a reload continues where it stopped. Multipart fallback: the action answers
 * {"images": [{"id", "name", "url", "status"}]} to `Accept: application/json`.
 *
 * When every file has finished, the form gets data-done="true" (and data-failed="N" if N failed).
 */
import { formatBytes } from './sizes.js'
import { follow as followBatch } from './batch.js'

enhanceUploadForms()

/** Enhance every upload form of the page (modules run once the document is parsed, after tus). */
function enhanceUploadForms () {
  var MIB = 1024 * 1024
  var CHUNK_SIZE = 5 * MIB
  var RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000]
  var MAX_PARALLEL = 2
  var NIFTI_NAME = /\.nii(\.gz)?$/i
  var ACCEPTED_NAME = /\.(nii|hdr|img)(\.gz)?$|\.(zip|tar|tar\.gz|tgz)$/i

  function formatDuration (seconds) {
    if (!isFinite(seconds)) return ''
    if (seconds < 60) return Math.max(1, Math.round(seconds)) + ' s'
    if (seconds < 3600) return Math.round(seconds / 60) + ' min'
    return (seconds / 3600).toFixed(1) + ' h'
  }

  function imageNameOf (fileName) {
    return fileName.replace(NIFTI_NAME, '') || fileName
  }

  function element (tag, className, text) {
    var el = document.createElement(tag)
    if (className) el.className = className
    if (text) el.textContent = text
    return el
  }

  /** Bytes per second, smoothed so the number does not jump with every chunk. */
  function speedMeter () {
    var lastBytes = 0
    var lastTime = 0
    var speed = 0
    return {
      reset: function (bytes) {
        lastBytes = bytes
        lastTime = Date.now()
      },
      update: function (bytes) {
        var now = Date.now()
        var elapsed = (now - lastTime) / 1000
        if (elapsed < 0.25) return speed
        var current = (bytes - lastBytes) / elapsed
        speed = speed ? 0.7 * speed + 0.3 * current : current
        lastBytes = bytes
        lastTime = now
        return speed
      }
    }
  }

  /** One file in the list: its row, its state, and how to start, pause and resume it. */
  function UploadItem (file, transport, onFinished) {
    this.file = file
    this.transport = transport
    this.onFinished = onFinished
    this.meter = speedMeter()
    this.li = element('li', 'upload-item')
    this.progress = element('progress', 'upload-progress')
    this.progress.max = 100
    this.progress.value = 0
    this.status = element('span', 'upload-status', 'waiting')
    this.pauseButton = element('button', 'upload-pause', 'Pause')
    this.pauseButton.type = 'button'
    this.resumeButton = element('button', 'upload-resume', 'Resume')
    this.resumeButton.type = 'button'
    this.resumeButton.hidden = true
    this.li.append(element('span', 'upload-name', file.name), this.progress, this.status,
      this.pauseButton, this.resumeButton)
    this.pauseButton.addEventListener('click', this.pause.bind(this))
    this.resumeButton.addEventListener('click', this.resume.bind(this))
    this.setState('queued')
  }

  UploadItem.prototype.setState = function (state) {
    this.state = state
    this.li.dataset.state = state
    var active = state === 'uploading' || state === 'queued'
    this.pauseButton.hidden = !active
    this.resumeButton.hidden = state !== 'paused'
  }

  UploadItem.prototype.isFinished = function () {
    return this.state === 'done' || this.state === 'error'
  }

  UploadItem.prototype.showProgress = function (sent, total) {
    var percent = total ? Math.floor((sent / total) * 100) : 0
    this.progress.value = percent
    var speed = this.meter.update(sent)
    var parts = [percent + '%']
    if (speed > 0) {
      parts.push(formatBytes(speed) + '/s')
      if (sent < total) parts.push(formatDuration((total - sent) / speed) + ' left')
    }
    this.status.textContent = parts.join(' · ')
  }

  UploadItem.prototype.start = function () {
    this.setState('uploading')
    this.status.textContent = 'starting…'
    this.meter.reset(0)
    this.transport.start(this)
  }

  UploadItem.prototype.pause = function () {
    if (this.state === 'queued') {
      this.setState('paused')
      this.status.textContent = 'paused'
      return
    }
    if (this.state !== 'uploading') return
    this.setState('paused')
    this.transport.pause(this)
    this.status.textContent = 'paused at ' + this.progress.value + '%'
  }

  UploadItem.prototype.resume = function () {
    if (this.state !== 'paused') return
    this.setState('queued')
    this.status.textContent = 'waiting'
    this.onFinished()
  }

  UploadItem.prototype.succeed = function (imageUrl, statusText) {
    this.setState('done')
    this.progress.value = 100
    this.status.textContent = statusText || 'uploaded, processing'
    if (imageUrl) {
      var link = element('a', 'upload-link', 'View image')
      link.href = imageUrl
      this.li.append(link)
    }
    this.onFinished()
  }

  /** An archive or a pair half: the worker unpacks it, and the list of its members fills in under the row. */
  UploadItem.prototype.followBatch = function (batchUrl) {
    this.succeed(null, 'uploaded, unpacking')
    followBatch(batchUrl, this.li)
  }

  UploadItem.prototype.fail = function (message) {
    this.setState('error')
    this.li.classList.add('upload-failed')
    this.status.textContent = 'failed: ' + message
    this.onFinished()
  }

  function errorMessage (error) {
    var response = error && error.originalResponse
    if (response) {
      var body = response.getBody && response.getBody()
      var status = response.getStatus && response.getStatus()
      var detail = detailOf(body)
      if (detail) return detail
      if (body && body.length < 500) return body
      if (status) return 'the server answered ' + status
    }
    return (error && error.message ? error.message : String(error)).split('\n')[0]
  }

  /** The JSON body, or null when it is not JSON (the status line alone then says how it went). */
  function parsedOrNull (body) {
    try {
      return JSON.parse(body)
    } catch {
      return null
    }
  }

  /** The server's sentence from a JSON error body ({"detail": "..."}), or null. */
  function detailOf (body) {
    var parsed = parsedOrNull(body)
    return parsed && typeof parsed.detail === 'string' ? parsed.detail : null
  }

  /** tus 1.0 through tus-js-client: chunked, retried, resumable across reloads. */
  function tusTransport (form) {
    var endpoint = form.dataset.tusEndpoint
    var csrf = csrfTokenOf(form)
    return {
      resumable: true,
      start: function (item) {
        if (item.upload) {
          item.upload.start()
          return
        }
        var imageUrl = null
        var upload = new window.tus.Upload(item.file, {
          endpoint: endpoint,
          chunkSize: CHUNK_SIZE,
          retryDelays: RETRY_DELAYS,
          storeFingerprintForResuming: true,
          removeFingerprintOnSuccess: true,
          headers: { 'X-CSRFToken': csrf },
          metadata: Object.assign({
            filename: item.file.name,
            collection_id: form.dataset.collectionId || '',
            name: imageNameOf(item.file.name)
          }, item.batch || {}),
          onProgress: function (sent, total) { item.showProgress(sent, total) },
          onAfterResponse: function (req, res) {
            var url = res.getHeader('X-Image-Url')
            if (url) imageUrl = url
            if (res.getHeader('X-Batch-Url')) item.batchUrl = res.getHeader('X-Batch-Url')
          },
          onError: function (error) { item.fail(errorMessage(error)) },
          onSuccess: function () {
            if (item.batchUrl && !imageUrl) {
              item.followBatch(item.batchUrl)
              return
            }
            if (imageUrl) {
              item.succeed(imageUrl)
              return
            }
            imageUrlFromUpload(upload.url, csrf).then(function (url) { item.succeed(url) })
          }
        })
        item.upload = upload
        upload.findPreviousUploads().then(function (previous) {
          if (previous.length) upload.resumeFromPreviousUpload(previous[0])
          if (item.state === 'uploading') upload.start()
        }, function () {
          if (item.state === 'uploading') upload.start()
        })
      },
      pause: function (item) {
        if (item.upload) item.upload.abort()
      }
    }
  }

  /** When the last PATCH did not say where the image lives, the upload resource is asked. */
  function imageUrlFromUpload (uploadUrl, csrf) {
    if (!uploadUrl || !window.fetch) return Promise.resolve(null)
    return fetch(uploadUrl, {
      method: 'HEAD',
      credentials: 'same-origin',
      headers: { 'Tus-Resumable': '1.0.0', 'X-CSRFToken': csrf }
    }).then(function (res) {
      return res.headers.get('X-Image-Url')
    }, function () {
      return null
    })
  }

  /** Plain multipart POST to the form's action, one request per file, with upload progress. */
  function multipartTransport (form) {
    var csrf = csrfTokenOf(form)
    return {
      resumable: false,
      start: function (item) {
        var xhr = new XMLHttpRequest()
        item.xhr = xhr
        var body = new FormData()
        body.append('csrf_token', csrf)
        body.append('file', item.file, item.file.name)
        xhr.open('POST', form.action)
        xhr.setRequestHeader('Accept', 'application/json')
        xhr.setRequestHeader('X-CSRFToken', csrf)
        xhr.upload.addEventListener('progress', function (event) {
          if (event.lengthComputable) item.showProgress(event.loaded, event.total)
        })
        xhr.addEventListener('load', function () {
          var answer = parsedOrNull(xhr.responseText)
          if (xhr.status >= 200 && xhr.status < 300) {
            var image = answer && answer.images && answer.images[0]
            var batch = answer && answer.batches && answer.batches[0]
            if (batch && !image) {
              item.followBatch(batch.url)
              return
            }
            item.succeed(image ? image.url : null, image && image.status ? 'uploaded, ' + image.status : null)
          } else {
            var message = (answer && (answer.detail || answer.error || answer.message)) || 'the server answered ' + xhr.status
            item.fail(message)
          }
        })
        xhr.addEventListener('error', function () { item.fail('the connection failed') })
        xhr.send(body)
      },
      pause: function (item) {
        // A multipart upload cannot continue where it stopped: Resume sends the file again.
        if (item.xhr) item.xhr.abort()
        item.progress.value = 0
      }
    }
  }

  function csrfTokenOf (form) {
    var field = form.querySelector('input[name="csrf_token"]')
    return form.dataset.csrfToken || (field ? field.value : '')
  }

  function enhance (form) {
    var input = form.querySelector('input[type="file"]')
    var list = form.querySelector('.upload-list')
    var dropzone = form.querySelector('.dropzone')
    if (!input) return
    if (!list) {
      list = element('ul', 'upload-list')
      list.setAttribute('aria-live', 'polite')
      form.insertBefore(list, form.querySelector('[type="submit"]'))
    }
    var useTus = Boolean(form.dataset.tusEndpoint) && Boolean(window.tus) && window.tus.isSupported
    var transport = useTus ? tusTransport(form) : multipartTransport(form)
    var items = []
    form.dataset.enhanced = 'true'

    function pump () {
      var active = items.filter(function (item) { return item.state === 'uploading' }).length
      items.forEach(function (item) {
        if (item.state === 'queued' && active < MAX_PARALLEL) {
          active += 1
          item.start()
        }
      })
      var finished = items.filter(function (item) { return item.isFinished() })
      if (items.length && finished.length === items.length) {
        var failed = finished.filter(function (item) { return item.state === 'error' }).length
        if (failed) form.dataset.failed = String(failed)
        form.dataset.done = 'true'
      }
    }

    function addFiles (files) {
      var batch = files.length > 1 ? { batch: 'b' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8), batch_size: String(files.length) } : null
      Array.prototype.forEach.call(files, function (file) {
        var item = new UploadItem(file, transport, pump)
        item.batch = batch
        items.push(item)
        list.append(item.li)
        if (!ACCEPTED_NAME.test(file.name)) item.fail('not a .nii/.nii.gz map, a .hdr/.img pair or an archive (.zip, .tar, .tar.gz)')
      })
      if (files.length) {
        form.removeAttribute('data-done')
        form.removeAttribute('data-failed')
      }
      pump()
    }

    input.addEventListener('change', function () {
      addFiles(input.files)
      input.value = ''
    })

    form.addEventListener('submit', function (event) {
      event.preventDefault()
      if (input.files && input.files.length) {
        addFiles(input.files)
        input.value = ''
      }
      pump()
    })

    if (!dropzone) return
    dropzone.addEventListener('dragenter', function (event) {
      event.preventDefault()
      dropzone.classList.add('is-dragover')
    })
    dropzone.addEventListener('dragover', function (event) {
      event.preventDefault()
      if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy'
      dropzone.classList.add('is-dragover')
    })
    dropzone.addEventListener('dragleave', function (event) {
      if (!dropzone.contains(event.relatedTarget)) dropzone.classList.remove('is-dragover')
    })
    dropzone.addEventListener('drop', function (event) {
      event.preventDefault()
      dropzone.classList.remove('is-dragover')
      if (event.dataTransfer) addFiles(event.dataTransfer.files)
    })
    dropzone.addEventListener('keydown', function (event) {
      if (event.target === dropzone && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault()
        input.click()
      }
    })
    dropzone.addEventListener('click', function (event) {
      if (event.target === dropzone) input.click()
    })
  }

  function start () {
    Array.prototype.forEach.call(document.querySelectorAll('form.upload-form'), enhance)
  }

  start()
}
