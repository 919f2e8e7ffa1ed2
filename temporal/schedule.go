package temporal

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// ScheduleConfig is a recurring sync: Temporal starts a SyncWorkflow with Input every Every.
type ScheduleConfig struct {
	Name      string // the schedule id; the runs' workflow ids are "coupa-sync-NAME-<time>"
	Input     SyncInput
	TaskQueue string
	Every     time.Duration
	Jitter    time.Duration // each run starts up to this much later, so that many schedules spread out
	// CatchupWindow is how late a missed run may still start (after the server or the workers were down);
	// runs missed by more are skipped. Default DefaultCatchupWindow.
	CatchupWindow time.Duration
	Paused        bool
}

// DefaultCatchupWindow is how late a missed scheduled run may still start when ScheduleConfig leaves it zero.
const DefaultCatchupWindow = 10 * time.Minute

// CreateSchedule creates the schedule. A run that would start while the previous one is still going is
// skipped (overlap policy SKIP): two runs of one destination would only compete for the same rows.
func CreateSchedule(ctx context.Context, c client.Client, cfg ScheduleConfig) (client.ScheduleHandle, error) {
	if cfg.Name == "" {
		return nil, errors.New("a schedule needs a name")
	}
	if cfg.Every < time.Second {
		return nil, fmt.Errorf("every %v: a schedule runs at most once a second", cfg.Every)
	}
	if err := CheckDest(cfg.Input.Dest); err != nil {
		return nil, err
	}
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = DefaultTaskQueue
	}
	if cfg.CatchupWindow <= 0 {
		cfg.CatchupWindow = DefaultCatchupWindow
	}
	return c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   cfg.Name,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: cfg.Every}}, Jitter: cfg.Jitter},
		Action: &client.ScheduleWorkflowAction{
			ID:        "coupa-sync-" + cfg.Name,
			Workflow:  SyncWorkflowName,
			Args:      []any{cfg.Input},
			TaskQueue: cfg.TaskQueue,
		},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: cfg.CatchupWindow,
		Paused:        cfg.Paused,
	})
}

// ScheduledInput is the SyncInput of a schedule's action as Describe returns it, or nil when the schedule
// starts something else.
func ScheduledInput(action client.ScheduleAction) (*SyncInput, error) {
	wa, ok := action.(*client.ScheduleWorkflowAction)
	if !ok || wa.Workflow != SyncWorkflowName || len(wa.Args) != 1 {
		return nil, nil
	}
	p, ok := wa.Args[0].(*commonpb.Payload)
	if !ok {
		return nil, nil
	}
	var in SyncInput
	if err := converter.GetDefaultDataConverter().FromPayload(p, &in); err != nil {
		return nil, fmt.Errorf("reading the schedule's sync input: %w", err)
	}
	return &in, nil
}
