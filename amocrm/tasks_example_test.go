package amocrm_test

import (
	"context"
	"fmt"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

// Create a call task on a contact, list the open call tasks, and
// complete the task with a result.
func ExampleClient_Tasks() {
	fake := amocrmtest.NewServer() // stands in for https://example.amocrm.ru
	defer fake.Close()
	client, err := amocrm.NewClient(amocrm.Credentials{Domain: "example.amocrm.ru", LongLivedToken: fake.LongLivedToken()},
		callbridge.WithBaseURL(fake.URL), callbridge.WithHTTPClient(fake.Client()))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	contact := fake.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+79161234567"}})

	due := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	made, err := client.CreateTasks(ctx, []amocrm.Task{{TaskTypeID: amocrm.TaskTypeCall, Text: "Перезвонить клиенту",
		CompleteTill: due.Unix(), ResponsibleUserID: 8375358, EntityType: amocrm.EntityContacts, EntityID: contact}})
	if err != nil {
		panic(err)
	}
	open := amocrm.TaskFilter{State: amocrm.TasksOpen, TaskTypes: []int64{amocrm.TaskTypeCall}, OrderBy: amocrm.OrderByCompleteTill}
	for t, err := range client.Tasks(ctx, open) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s for %d on %s %d, due %s\n", t.Text, t.ResponsibleUserID, t.EntityType, t.EntityID,
			time.Unix(t.CompleteTill, 0).UTC().Format(time.RFC3339))
	}
	if _, err := client.UpdateTasks(ctx, []amocrm.Task{{ID: made[0].ID, IsCompleted: true,
		Result: &amocrm.TaskResult{Text: "Дозвонились"}}}); err != nil {
		panic(err)
	}
	n := 0
	for _, err := range client.Tasks(ctx, open) {
		if err != nil {
			panic(err)
		}
		n++
	}
	fmt.Println("open call tasks after completing it:", n)
	// Output:
	// Перезвонить клиенту for 8375358 on contacts 1002, due 2025-03-14T09:30:00Z
	// open call tasks after completing it: 0
}
