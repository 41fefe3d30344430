// LearnFlow learner page: sign in, generate a lesson, take its quiz, watch mastery move.
// Plain DOM and fetch, no build step. Everything from the server is inserted as text
// (textContent), never as HTML. The token lives in sessionStorage: this tab only.
'use strict';

(function () {
  const TOKEN_KEY = 'learnflow.token';
  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    lesson: null,
    // The last completion: which topic ("course/topic") moved, and from what.
    change: null,
    progressTimers: [],
    // Titles of topics and courses seen in lessons ("course/topic" → titles); progress
    // only carries ids.
    titles: new Map(),
  };

  // ---------- small helpers ----------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(typeof child === 'string' ? document.createTextNode(child) : child);
      }
    }
    return node;
  }

  function humanise(id) {
    const words = String(id).replace(/-/g, ' ');
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function percent(x) {
    return `${Math.round(x * 100)}%`;
  }

  function setStatus(text, busy) {
    const status = $('status');
    status.textContent = text || '';
    status.classList.toggle('busy', Boolean(busy));
  }

  function clearAlert() {
    const alert = $('alert');
    alert.hidden = true;
    alert.replaceChildren();
    alert.classList.remove('alert-wait');
  }

  function showAlert(message, details, waiting) {
    const alert = $('alert');
    const body = [el('p', { text: message })];
    if (details && details.length) {
      body.push(el('ul', {}, ...details.map((d) => el('li', { text: `${d.field}: ${d.message}` }))));
    }
    alert.replaceChildren(...body);
    alert.classList.toggle('alert-wait', Boolean(waiting));
    alert.hidden = false;
  }

  // Runs `work` with `button` disabled and a busy status; errors become an alert.
  async function busy(button, label, work) {
    if (button.disabled) return;
    const original = button.textContent;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.textContent = label;
    clearAlert();
    setStatus(label, true);
    let cooldown = 0;
    try {
      await work();
    } catch (error) {
      setStatus('');
      cooldown = reportError(error);
    } finally {
      button.removeAttribute('aria-busy');
      button.textContent = original;
      if (cooldown > 0) holdOff(button, original, cooldown);
      else button.disabled = false;
    }
  }

  // After a 429 or 503, keep the button off until Retry-After has passed.
  function holdOff(button, original, seconds) {
    let left = seconds;
    button.disabled = true;
    const tick = () => {
      if (left <= 0) {
        button.disabled = false;
        button.textContent = original;
        return;
      }
      button.textContent = `${original} (${left} s)`;
      left -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  }

  // ---------- the API ----------

  class ApiError extends Error {
    constructor(status, code, message, details, retryAfter, traceId) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || [];
      this.retryAfter = retryAfter;
      this.traceId = traceId;
    }
  }

  async function api(method, path, body, token) {
    const headers = { Accept: 'application/json' };
    const bearer = token === undefined ? state.token : token;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (_) {
      throw new ApiError(0, 'network', 'Cannot reach LearnFlow. Check your connection and try again.');
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (response.ok) return data;
    const error = (data && data.error) || {};
    const retry = parseInt(response.headers.get('Retry-After') || '', 10);
    throw new ApiError(
      response.status,
      error.code || 'http_' + response.status,
      error.message || `The server answered ${response.status}.`,
      error.details,
      Number.isFinite(retry) && retry >= 0 ? retry : null,
      error.trace_id || response.headers.get('x-trace-id'),
    );
  }

  // Shows `error` to the learner; returns seconds to hold the action back (429/503).
  function reportError(error) {
    if (!(error instanceof ApiError)) {
      showAlert(`Something went wrong: ${error && error.message ? error.message : error}`);
      return 0;
    }
    const wait = error.retryAfter === null || error.retryAfter === undefined ? 5 : Math.max(1, error.retryAfter);
    const trace = error.traceId ? ` (trace id ${error.traceId})` : '';
    switch (error.status) {
      case 401:
        signOut(false);
        showAlert(`Your token was not accepted: ${error.message}. Sign in again.`);
        return 0;
      case 429:
        showAlert(`You are going a little fast. Try again in ${wait} s.`, null, true);
        return wait;
      case 503:
        showAlert(`LearnFlow is busy or one of its services is unavailable. Try again in ${wait} s.`, null, true);
        return wait;
      case 409:
        showAlert(error.message.charAt(0).toUpperCase() + error.message.slice(1) + '.');
        return 0;
      case 422:
      case 400:
        showAlert(`That was not accepted: ${error.message}.`, error.details);
        return 0;
      case 0:
        showAlert(error.message);
        return 0;
      default:
        showAlert(`Something went wrong (${error.status} ${error.code}): ${error.message}${trace}. Try again.`);
        return 0;
    }
  }

  // ---------- sign in / out ----------

  async function signIn(token, how) {
    const progress = await api('GET', '/api/v1/progress', undefined, token);
    state.token = token;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch (_) {
      // Storage may be off (private mode); the session then lasts until reload.
    }
    showApp(progress);
    setStatus(`Signed in as ${progress.learner_id}${how}.`);
    $('course').focus();
  }

  function showApp(progress) {
    $('who-name').textContent = progress.learner_id;
    $('who').hidden = false;
    $('signin').hidden = true;
    $('app').hidden = false;
    renderProgress(progress);
  }

  function signOut(announce) {
    state.token = null;
    state.lesson = null;
    state.change = null;
    state.titles.clear();
    state.progressTimers.forEach(clearTimeout);
    state.progressTimers = [];
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) {
      // Nothing stored.
    }
    $('who').hidden = true;
    $('app').hidden = true;
    $('lesson').hidden = true;
    $('signin').hidden = false;
    $('token').value = '';
    if (announce) {
      clearAlert();
      setStatus('Signed out.');
      $('learner').focus();
    }
  }

  // ---------- courses ----------

  // Courses come from the API document's enum for `course`, so the page needs no list of its own.
  async function loadCourses() {
    try {
      const doc = await api('GET', '/api/v1/openapi.json', undefined, null);
      const course = doc.components.schemas.CreateLessonRequest.properties.course;
      const select = $('course');
      for (const id of course.enum || []) {
        if (typeof id === 'string') select.append(el('option', { value: id, text: humanise(id) }));
      }
    } catch (_) {
      // Without the list the learner can still take the recommended course.
    }
  }

  // ---------- lessons ----------

  async function generateLesson() {
    const course = $('course').value;
    const lesson = await api('POST', '/api/v1/lessons', course ? { course } : {});
    renderLesson(lesson);
    setStatus(`Lesson ready: ${lesson.topic_title} (${lesson.course_title}).`);
    $('lesson-title').focus();
    // The lesson reaches user-progress through Kafka a moment later: look again soon.
    scheduleProgress([600, 2500]);
  }

  function renderLesson(lesson) {
    state.lesson = lesson;
    state.titles.set(`${lesson.course}/${lesson.topic}`, { topic: lesson.topic_title, course: lesson.course_title });
    $('lesson-crumbs').textContent = `${lesson.course_title} › ${lesson.module}`;
    $('lesson-title').textContent = lesson.topic_title;
    $('lesson-badges').replaceChildren(
      el('span', { class: 'badge', text: `Difficulty ${lesson.difficulty} of 5` }),
      el('span', {
        class: 'badge badge-plain',
        text: lesson.personalised ? 'Picked for your mastery' : 'Default pick',
      }),
    );

    const paragraphs = String(lesson.explanation).split(/\n\s*\n/).filter((p) => p.trim());
    $('explanation-body').replaceChildren(...paragraphs.map((p) => el('p', { text: p.trim() })));

    const example = lesson.worked_example || { problem: '', steps: [], answer: '' };
    $('lesson-example').hidden = !example.problem;
    $('example-problem').textContent = example.problem;
    $('example-steps').replaceChildren(...example.steps.map((s) => el('li', { text: s })));
    $('example-answer').textContent = example.answer;

    $('lesson-exercises').hidden = lesson.exercises.length === 0;
    $('exercise-list').replaceChildren(
      ...lesson.exercises.map((exercise) =>
        el(
          'li',
          {},
          el('span', { text: exercise.prompt }),
          el('details', {}, el('summary', { text: 'Show answer' }), el('span', { text: exercise.answer })),
        ),
      ),
    );

    $('quiz-items').replaceChildren(
      ...lesson.quiz.map((item, i) =>
        el(
          'fieldset',
          { class: 'quiz-item', 'data-question': i },
          el('legend', { text: `${i + 1}. ${item.question}` }),
          ...item.choices.map((choice, j) =>
            el(
              'label',
              { class: 'choice', for: `q${i}-c${j}` },
              el('input', { type: 'radio', id: `q${i}-c${j}`, name: `q${i}`, value: j }),
              el('span', { text: choice }),
            ),
          ),
        ),
      ),
    );
    const submit = $('submit-quiz');
    submit.hidden = false;
    submit.disabled = false;
    submit.textContent = lesson.quiz.length ? 'Submit answers' : 'Mark lesson complete';
    $('quiz-result').hidden = true;
    $('quiz-result').replaceChildren();
    $('lesson').hidden = false;
  }

  function chosenAnswers() {
    return state.lesson.quiz.map((_, i) => {
      const picked = document.querySelector(`input[name="q${i}"]:checked`);
      return picked ? Number(picked.value) : null;
    });
  }

  async function submitQuiz() {
    const lesson = state.lesson;
    const answers = chosenAnswers();
    const missing = answers.filter((a) => a === null).length;
    if (missing > 0) {
      const first = answers.indexOf(null);
      showAlert(`Answer every question first: ${missing} of ${answers.length} still open.`);
      const input = document.querySelector(`input[name="q${first}"]`);
      if (input) input.focus();
      return;
    }
    const right = answers.filter((a, i) => a === lesson.quiz[i].answer_index).length;
    // A lesson without a quiz counts as done in full.
    const score = answers.length ? right / answers.length : 1;
    const recorded = await api('POST', `/api/v1/lessons/${encodeURIComponent(lesson.id)}/completion`, { score });
    markAnswers(answers);
    state.change = { key: `${lesson.course}/${lesson.topic}`, before: recorded.mastery_before };
    const result = $('quiz-result');
    result.replaceChildren(
      el('p', { class: 'big', text: answers.length ? `You scored ${right} of ${answers.length} (${percent(score)}).` : 'Lesson completed.' }),
      el('p', {
        id: 'mastery-change',
        text: `Mastery of ${lesson.topic_title}: ${percent(recorded.mastery_before)} → ${percent(recorded.mastery_after)}.`,
      }),
    );
    result.hidden = false;
    $('submit-quiz').hidden = true;
    setStatus(`Completion recorded. Mastery of ${lesson.topic_title} is now ${percent(recorded.mastery_after)}.`);
    result.focus();
    await refreshProgress();
  }

  function markAnswers(answers) {
    state.lesson.quiz.forEach((item, i) => {
      item.choices.forEach((_, j) => {
        const input = $(`q${i}-c${j}`);
        input.disabled = true;
        const label = input.closest('label');
        if (j === item.answer_index) {
          label.classList.add('right');
          label.append(el('span', { class: 'mark', text: j === answers[i] ? '✓ Your answer' : '✓ Right answer' }));
        } else if (j === answers[i]) {
          label.classList.add('wrong');
          label.append(el('span', { class: 'mark', text: '✗ Your answer' }));
        }
      });
    });
  }

  // ---------- progress ----------

  function scheduleProgress(delays) {
    state.progressTimers.forEach(clearTimeout);
    state.progressTimers = delays.map((ms) =>
      setTimeout(() => {
        refreshProgress().catch(() => {
          // A background refresh stays quiet; the Refresh button reports errors.
        });
      }, ms),
    );
  }

  async function refreshProgress() {
    if (!state.token) return;
    const section = $('progress');
    section.setAttribute('aria-busy', 'true');
    try {
      renderProgress(await api('GET', '/api/v1/progress'));
    } finally {
      section.setAttribute('aria-busy', 'false');
    }
  }

  function renderProgress(progress) {
    $('stat-received').textContent = String(progress.lessons_received);
    $('stat-completed').textContent = String(progress.lessons_completed);
    const topics = progress.topics || [];
    const empty = topics.length === 0 && progress.lessons_received === 0 && progress.lessons_completed === 0;
    $('progress-empty').hidden = !empty;
    $('mastery-title').hidden = topics.length === 0;
    const items = topics.map((t) => {
      const key = `${t.course}/${t.topic}`;
      const titles = state.titles.get(key) || { topic: humanise(t.topic), course: humanise(t.course) };
      const changed = state.change !== null && key === state.change.key;
      const delta = changed ? Math.round((t.mastery - state.change.before) * 100) : 0;
      const bar = el('span', {});
      bar.style.width = percent(Math.min(1, Math.max(0, t.mastery)));
      return el(
        'li',
        { class: changed ? 'changed' : '', 'data-topic': key, 'data-mastery': t.mastery.toFixed(4) },
        el(
          'div',
          { class: 'topic-head' },
          el('span', {}, el('span', { class: 'topic-name', text: titles.topic }), el('span', { class: 'topic-course', text: titles.course })),
          el(
            'span',
            { class: 'topic-value' },
            percent(t.mastery),
            delta !== 0 ? el('span', { class: `delta ${delta > 0 ? 'up' : 'down'}`, text: `${delta > 0 ? '▲ +' : '▼ '}${delta} pts` }) : null,
          ),
        ),
        el('div', { class: 'bar', 'aria-hidden': 'true' }, bar),
        el('p', { class: 'topic-meta', text: `${t.lessons} lesson${t.lessons === 1 ? '' : 's'} · ${t.completions} completed` }),
      );
    });
    $('mastery').replaceChildren(...items);
  }

  // ---------- wiring ----------

  function wire() {
    $('dev-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const learner = $('learner').value.trim();
      const button = $('dev-sign-in');
      busy(button, 'Signing in…', async () => {
        if (!learner) {
          showAlert('Enter a learner id first.');
          $('learner').focus();
          return;
        }
        let minted;
        try {
          minted = await api('POST', '/dev/token', { learner }, null);
        } catch (error) {
          if (error instanceof ApiError && error.status === 404) {
            throw new ApiError(404, 'not_found', 'Dev sign-in is off on this gateway. Paste a token instead.');
          }
          throw error;
        }
        await signIn(minted.token, ' with a dev token');
      });
    });

    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim().replace(/^Bearer\s+/i, '');
      busy($('token-sign-in'), 'Checking token…', async () => {
        if (!token) {
          showAlert('Paste a token first.');
          $('token').focus();
          return;
        }
        await signIn(token, '');
      });
    });

    $('sign-out').addEventListener('click', () => signOut(true));

    $('lesson-form').addEventListener('submit', (event) => {
      event.preventDefault();
      busy($('generate'), 'Generating…', generateLesson);
    });

    $('quiz-form').addEventListener('submit', (event) => {
      event.preventDefault();
      busy($('submit-quiz'), 'Recording…', submitQuiz);
    });

    $('refresh').addEventListener('click', () => {
      busy($('refresh'), 'Refreshing…', async () => {
        await refreshProgress();
        setStatus('Progress updated.');
      });
    });
  }

  async function start() {
    wire();
    await loadCourses();
    let saved = null;
    try {
      saved = sessionStorage.getItem(TOKEN_KEY);
    } catch (_) {
      saved = null;
    }
    if (saved) {
      setStatus('Restoring your session…', true);
      try {
        await signIn(saved, '');
      } catch (error) {
        setStatus('');
        reportError(error);
      }
    }
    document.body.dataset.ready = 'true';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
