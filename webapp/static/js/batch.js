/**
 * The outcome of each member of an archive (or each file sent together), filled in as the worker reads them.
 *
 * An ES module like upload.js and viewer.js, no inline code (the CSP forbids it). The upload page imports
 * follow(batchUrl, element) and calls it once an archive or pair has been uploaded; the batch page
 * (<table class="batch-members" data-batch-url="...">) follows its own batch. The list is
 *
 *   <ul class="batch-members" data-complete="true|false">
 *     <li class="batch-member" data-state="queued|processing|ready|failed|skipped">
 *       <a href="/images/42">spm/spmT_0001.nii</a> <span class="batch-state">ready</span>
 *       <span class="batch-reason">…</span></li>
 *   </ul>
 *
 * and is asked for again (Accept: application/json) every POLL_MS until every member is final.
 */
var POLL_MS = 1500

function element (tag, className, text) {
  var el = document.createElement(tag)
  if (className) el.className = className
  if (text) el.textContent = text
  return el
}

function memberItem (member) {
  var li = element('li', 'batch-member')
  li.dataset.state = member.state
  var name = member.url ? element('a', 'batch-name', member.name) : element('span', 'batch-name', member.name)
  if (member.url) name.href = member.url
  li.append(name, ' ', element('span', 'batch-state', member.state))
  if (member.reason) li.append(' — ', element('span', 'batch-reason', member.reason))
  return li
}

function render (list, batch) {
  list.replaceChildren.apply(list, batch.members.map(memberItem))
  if (batch.error) list.append(element('li', 'batch-error', batch.error))
  list.dataset.complete = batch.complete ? 'true' : 'false'
  var status = list.parentNode.querySelector('.upload-status')
  if (status) status.textContent = (batch.complete ? 'done: ' : 'unpacking: ') + countsText(batch.counts)
}

function countsText (counts) {
  return Object.keys(counts).sort().map(function (state) { return counts[state] + ' ' + state }).join(', ') || 'starting'
}

export function follow (url, container) {
  var list = container.querySelector('ul.batch-members')
  if (!list) {
    list = element('ul', 'batch-members')
    list.setAttribute('aria-live', 'polite')
    container.append(list)
  }
  list.dataset.complete = 'false'
  function poll () {
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (res) { return res.ok ? res.json() : null })
      .then(function (batch) {
        if (batch) render(list, batch)
        if (!batch || !batch.complete) window.setTimeout(poll, POLL_MS)
      }, function () { window.setTimeout(poll, POLL_MS * 2) })
  }
  poll()
}

function start () {
  Array.prototype.forEach.call(document.querySelectorAll('table.batch-members[data-batch-url]'), function (table) {
    var holder = element('div', 'batch-live')
    table.after(holder)
    table.hidden = true
    follow(table.dataset.batchUrl, holder)
  })
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start)
} else {
  start()
}
