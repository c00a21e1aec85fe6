package drill

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/raftdrill/raftdrill/run"
)

// StepFunc does one step. err means the drill cannot go on (a node could not
// be killed or restarted, the cluster was unfit to start with, the drill was
// cancelled); a step that merely failed returns passed=false and the drill
// goes on, so that the data is still read back and classified.
type StepFunc func(ctx context.Context) (detail string, passed bool, err error)

// Step is one stage of a drill.
type Step struct {
	Name  string // as the run's steps show it: "leader-loss"
	Title string // what it does, for people: "kill the leader of partition 0"
	Do    StepFunc
	// Skip, when set, says why the step is not run (a step the config
	// turned off): it is recorded as not tested, never as passed.
	Skip string
}

// RunSteps runs the steps in order, recording each in res, until one
// cannot go on; it reports whether every step ran.
func RunSteps(ctx context.Context, env Env, res *run.Result, steps []Step) bool {
	for _, s := range steps {
		if s.Skip != "" {
			res.Steps = append(res.Steps, run.Step{Name: s.Name, StartedAt: time.Now(), Outcome: run.StepNotTested, Detail: s.Skip})
			env.Publish(res)
			env.Progressf("STEP %d: %s — not tested: %s", len(res.Steps), s.Title, s.Skip)
			continue
		}
		if !runStep(ctx, env, res, s) {
			return false
		}
	}
	return true
}

func runStep(ctx context.Context, env Env, res *run.Result, s Step) bool {
	env.Progressf("STEP %d: %s", len(res.Steps)+1, s.Title)
	started := time.Now()
	res.Current = &run.Step{Name: s.Name, StartedAt: started, Outcome: run.StepRunning, Detail: s.Title}
	env.Publish(res)
	detail, passed, err := s.Do(ctx)
	res.Current = nil
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("drill cancelled: %w", ctx.Err())
	}
	st := run.Step{Name: s.Name, StartedAt: started, Seconds: run.RoundMs(time.Since(started).Seconds()), Outcome: run.StepPassed, Detail: detail}
	if err != nil || !passed {
		st.Outcome = run.StepFailed
	}
	if err != nil {
		st.Detail = strings.TrimPrefix(detail+"; "+err.Error(), "; ")
		if res.Error == "" {
			res.Error = err.Error()
		}
	}
	res.Steps = append(res.Steps, st)
	env.Publish(res)
	env.Progressf("[%s] %s", strings.ToUpper(st.Outcome), st.Detail)
	return err == nil
}
